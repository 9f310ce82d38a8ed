"""CNNRegressor: numeric targets, several outputs, target scaling, losses."""

import joblib
import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.metrics import r2_score
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import Pipeline

import sk_cnn
from sk_cnn import CNNClassifier, CNNRegressor, ImageAugmenter, ImageNormalizer


@pytest.fixture(scope="module")
def digit_brightness():
    """Digits (8x8, float) with two numeric targets: the amount of ink (mean intensity) and the
    fraction of pixels brighter than 0.5, both times 10."""
    X, _ = load_digits(return_X_y=True)
    X = X.reshape(-1, 8, 8) / 16
    Y = np.c_[X.mean(axis=(1, 2)), (X > 0.5).mean(axis=(1, 2))] * 10
    return train_test_split(X, Y, test_size=0.25, random_state=0)




def test_learns_an_image_to_number_mapping(digit_brightness, small_regressor):
    X_train, X_test, Y_train, Y_test = digit_brightness
    reg = small_regressor().fit(X_train, Y_train[:, 0])
    y_pred = reg.predict(X_test)
    assert y_pred.shape == (len(X_test),)
    assert reg.score(X_test, Y_test[:, 0]) >= 0.9
    assert {"train_r2", "valid_r2", "valid_loss"} <= set(reg.history[-1])
    assert reg.history[-1, "valid_r2"] > 0.8
    assert reg.history[-1, "valid_r2"] > reg.history[0, "valid_r2"]


def test_several_targets(digit_brightness, small_regressor):
    X_train, X_test, Y_train, Y_test = digit_brightness
    reg = small_regressor().fit(X_train, Y_train)
    Y_pred = reg.predict(X_test)
    assert reg.n_outputs_ == 2 and Y_pred.shape == Y_test.shape
    # Both targets learned, each its own (measured 0.95-0.96 and 0.69-0.72 over 3 seeds).
    assert r2_score(Y_test[:, 0], Y_pred[:, 0]) >= 0.9
    assert r2_score(Y_test[:, 1], Y_pred[:, 1]) >= 0.6
    with pytest.raises(ValueError, match="fitted on 2 target"):
        reg.partial_fit(X_train, Y_train[:, 0])


def test_target_scaling_undone_in_predict(digit_brightness, small_regressor):
    X_train, X_test, Y_train, Y_test = digit_brightness
    y_train, y_test = Y_train[:, 0] * 1000 + 5000, Y_test[:, 0] * 1000 + 5000
    reg = small_regressor().fit(X_train, y_train)
    np.testing.assert_allclose(reg.target_mean_, [y_train.mean()])
    np.testing.assert_allclose(reg.target_scale_, [y_train.std()])
    assert reg.score(X_test, y_test) >= 0.9
    unscaled = small_regressor(scale_target=False, max_epochs=1).fit(X_train, y_train)
    assert unscaled.target_mean_.tolist() == [0.0] and unscaled.target_scale_.tolist() == [1.0]


@pytest.mark.parametrize("name, loss", [("mse", torch.nn.MSELoss), ("huber", torch.nn.HuberLoss),
                                        ("l1", torch.nn.L1Loss)])
def test_criterion_names(name, loss, small_regressor):
    X = np.random.default_rng(0).normal(size=(32, 12)).astype(np.float32)
    reg = small_regressor(criterion=name, max_epochs=1).fit(X, X.sum(axis=1))
    assert type(reg.criterion_) is loss


def test_bad_parameters_and_targets(small_regressor):
    X = np.zeros((20, 12), np.float32)
    with pytest.raises(ValueError, match="criterion"):
        small_regressor(criterion="hinge").fit(X, np.arange(20.0))
    with pytest.raises(ValueError, match="(?i)nan|infinity"):
        small_regressor().fit(X, np.r_[np.nan, np.arange(19.0)])
    with pytest.raises(ValueError):
        small_regressor().fit(X, np.array(["a", "b"] * 10))


def test_no_predict_proba(small_regressor):
    X = np.random.default_rng(0).normal(size=(20, 12)).astype(np.float32)
    reg = small_regressor(max_epochs=1).fit(X, X[:, 0])
    assert not hasattr(reg, "predict_proba")


def test_pipeline_grid_search_and_persistence(digit_brightness, tmp_path, small_regressor):
    X_train, X_test, Y_train, _ = digit_brightness
    X_train, y_train = (X_train[:300] * 255).astype(np.uint8), Y_train[:300, 0]
    pipe = Pipeline([("norm", ImageNormalizer()),
                     ("aug", ImageAugmenter(horizontal_flip=False, crop_padding=1)),
                     ("cnn", small_regressor(max_epochs=2, conv_filters=(8,)))])

    def head_dropout(estimator, X, y):
        layers = [m for m in estimator["cnn"].module_.modules() if isinstance(m, torch.nn.Dropout)]
        return max((m.p for m in layers), default=0.0)

    # A candidate that fails raises (not a NaN score); each trained the dropout it names.
    search = GridSearchCV(pipe, {"cnn__dropout": [0.0, 0.5]}, cv=2,
                          scoring={"r2": "r2", "dropout": head_dropout}, refit="r2",
                          error_score="raise").fit(X_train, y_train)
    results = search.cv_results_
    assert list(results["param_cnn__dropout"]) == [0.0, 0.5]
    assert np.isfinite(results["mean_test_r2"]).all()
    np.testing.assert_array_equal(results["mean_test_dropout"], [0.0, 0.5])
    best = search.best_estimator_
    X_new = (X_test[:20] * 255).astype(np.uint8)
    expected = best.predict(X_new)

    joblib.dump(best, tmp_path / "model.joblib")
    np.testing.assert_allclose(joblib.load(tmp_path / "model.joblib").predict(X_new), expected,
                               rtol=1e-6)
    sk_cnn.save(best, tmp_path / "model.safetensors")
    loaded = sk_cnn.load(tmp_path / "model.safetensors")
    assert isinstance(loaded[-1], CNNRegressor)
    np.testing.assert_allclose(loaded.predict(X_new), expected, rtol=1e-6)
    np.testing.assert_allclose(loaded[-1].target_scale_, best[-1].target_scale_)


def test_clone_and_summary_before_fit():
    reg = CNNRegressor(conv_filters=(4, 8), criterion="huber", input_type="signal")
    assert clone(reg).get_params()["criterion"] == "huber"
    summary = reg.summary(input_shape=(3, 40), n_outputs=2)
    assert summary.layers[-1].output_shape[-1] == 2
    assert any(row.type == "Conv1d" for row in summary.layers)


SIGNALS = np.random.default_rng(1).random((30, 20)).astype(np.float32)


TARGETS = np.random.default_rng(2).random(30)


def test_tta_set_after_a_fit_on_signals_is_refused_everywhere(tmp_path, small_regressor):
    reg = small_regressor(conv_filters=(4,), max_epochs=1).fit(SIGNALS, TARGETS)
    reg.set_params(tta="flip")  # would silently reverse time
    for call in (lambda: reg.predict(SIGNALS), lambda: reg.partial_fit(SIGNALS, TARGETS)):
        with pytest.raises(ValueError, match="mirrors images.*set tta=None"):
            call()
    clf = CNNClassifier(conv_filters=(4,), max_epochs=1, verbose=0).fit(SIGNALS, TARGETS > 0.5)
    clf.set_params(tta="flip")
    with pytest.raises(ValueError, match="mirrors images"):
        sk_cnn.export_program(clf, tmp_path / "m.pt2")


def test_small_data_keeps_two_validation_samples_for_r2(recwarn, small_regressor):
    # ceil(10% of 10) = 1 sample, on which R^2 is undefined (NaN plus a warning each epoch).
    reg = small_regressor(conv_filters=(4,), max_epochs=2).fit(SIGNALS[:10], TARGETS[:10])
    assert np.isfinite(reg.history[:, "valid_r2"]).all()
    assert not [w for w in recwarn if "R^2" in str(w.message)]
    # 3 samples: 2 for validation would leave 1 to train on, where R^2 is undefined: no split.
    recwarn.clear()
    reg = small_regressor(conv_filters=(4,), max_epochs=2).fit(SIGNALS[:3], TARGETS[:3])
    assert "valid_loss" not in reg.history[-1]
    assert not [w for w in recwarn if "R^2" in str(w.message)]


def test_early_stopping_without_room_for_a_split_is_refused(small_regressor):
    with pytest.raises(ValueError, match="early_stopping needs a validation split, and 3"):
        small_regressor(conv_filters=(4,), early_stopping=2).fit(SIGNALS[:3], TARGETS[:3])


def test_extreme_and_misshapen_targets_get_clear_errors_or_work(small_regressor):
    big = small_regressor(conv_filters=(4,), max_epochs=1).fit(SIGNALS, TARGETS * 1e154)
    assert np.isfinite(big.target_scale_).all() and np.isfinite(big.predict(SIGNALS)).all()
    with pytest.raises(ValueError, match="beyond float32's range"):
        small_regressor(max_epochs=1, scale_target=False).fit(SIGNALS, TARGETS * 1e39)
    reg = small_regressor(conv_filters=(4,), max_epochs=1).fit(SIGNALS, TARGETS)
    with pytest.raises(ValueError, match=r"got shape \(30, 1, 1\)"):
        reg.partial_fit(SIGNALS, TARGETS.reshape(-1, 1, 1))
    with pytest.raises(TypeError, match=r"take only X \(and fit sample_weight\)"):
        reg.fit(SIGNALS, TARGETS, weights=np.ones(30))


def test_regressor_on_signals():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(1000, 1, 48)).astype(np.float32)
    amplitude = rng.uniform(0.5, 3, 1000)  # the target: the noise's standard deviation
    X *= amplitude[:, None, None]
    reg = CNNRegressor(conv_filters=(8, 16), max_epochs=10, input_type="signal", verbose=0,
                       random_state=0).fit(X[:800], amplitude[:800])
    assert reg.score(X[800:], amplitude[800:]) >= 0.85  # measured 0.93

