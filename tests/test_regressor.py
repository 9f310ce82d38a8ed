"""CNNRegressor: learning, several targets, losses, target scaling, scikit-learn and persistence."""

import inspect

import joblib
import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.metrics import r2_score
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import Pipeline
from skorch.callbacks import Callback

import sk_cnn
from sk_cnn import CNNClassifier, CNNRegressor, ImageAugmenter, ImageNormalizer
from sk_cnn.estimators._parameter_table import _SHARED


@pytest.fixture(scope="module")
def digit_brightness():
    """Digits (8x8, float) with two numeric targets: the amount of ink (mean intensity) and the
    fraction of pixels brighter than 0.5, both times 10."""
    X, _ = load_digits(return_X_y=True)
    X = X.reshape(-1, 8, 8) / 16
    Y = np.c_[X.mean(axis=(1, 2)), (X > 0.5).mean(axis=(1, 2))] * 10
    return train_test_split(X, Y, test_size=0.25, random_state=0)


def _regressor(**params):
    defaults = dict(conv_filters=(16, 32), max_epochs=10, verbose=0, random_state=0)
    return CNNRegressor(**{**defaults, **params})


def test_learns_an_image_to_number_mapping(digit_brightness):
    X_train, X_test, Y_train, Y_test = digit_brightness
    reg = _regressor().fit(X_train, Y_train[:, 0])
    y_pred = reg.predict(X_test)
    assert y_pred.shape == (len(X_test),)
    assert reg.score(X_test, Y_test[:, 0]) >= 0.9
    assert {"train_r2", "valid_r2", "valid_loss"} <= set(reg.history[-1])
    assert reg.history[-1, "valid_r2"] > 0.8
    assert reg.history[-1, "valid_r2"] > reg.history[0, "valid_r2"]


def test_several_targets(digit_brightness):
    X_train, X_test, Y_train, Y_test = digit_brightness
    reg = _regressor().fit(X_train, Y_train)
    Y_pred = reg.predict(X_test)
    assert reg.n_outputs_ == 2 and Y_pred.shape == Y_test.shape
    # Both targets learned, each its own (measured 0.95-0.96 and 0.69-0.72 over 3 seeds).
    assert r2_score(Y_test[:, 0], Y_pred[:, 0]) >= 0.9
    assert r2_score(Y_test[:, 1], Y_pred[:, 1]) >= 0.6
    with pytest.raises(ValueError, match="fitted on 2 target"):
        reg.partial_fit(X_train, Y_train[:, 0])


def test_target_scaling_undone_in_predict(digit_brightness):
    X_train, X_test, Y_train, Y_test = digit_brightness
    y_train, y_test = Y_train[:, 0] * 1000 + 5000, Y_test[:, 0] * 1000 + 5000
    reg = _regressor().fit(X_train, y_train)
    np.testing.assert_allclose(reg.target_mean_, [y_train.mean()])
    np.testing.assert_allclose(reg.target_scale_, [y_train.std()])
    assert reg.score(X_test, y_test) >= 0.9
    unscaled = _regressor(scale_target=False, max_epochs=1).fit(X_train, y_train)
    assert unscaled.target_mean_.tolist() == [0.0] and unscaled.target_scale_.tolist() == [1.0]


@pytest.mark.parametrize("name, loss", [("mse", torch.nn.MSELoss), ("huber", torch.nn.HuberLoss),
                                        ("l1", torch.nn.L1Loss)])
def test_criterion_names(name, loss):
    X = np.random.default_rng(0).normal(size=(32, 12)).astype(np.float32)
    reg = _regressor(criterion=name, max_epochs=1).fit(X, X.sum(axis=1))
    assert type(reg.criterion_) is loss


def test_bad_parameters_and_targets():
    X = np.zeros((20, 12), np.float32)
    with pytest.raises(ValueError, match="criterion"):
        _regressor(criterion="hinge").fit(X, np.arange(20.0))
    with pytest.raises(ValueError, match="(?i)nan|infinity"):
        _regressor().fit(X, np.r_[np.nan, np.arange(19.0)])
    with pytest.raises(ValueError):
        _regressor().fit(X, np.array(["a", "b"] * 10))


def test_no_predict_proba():
    X = np.random.default_rng(0).normal(size=(20, 12)).astype(np.float32)
    reg = _regressor(max_epochs=1).fit(X, X[:, 0])
    assert not hasattr(reg, "predict_proba")


def test_shares_the_classifier_parameters():
    reg_params = inspect.signature(CNNRegressor).parameters
    clf_params = inspect.signature(CNNClassifier).parameters
    shared = set(_SHARED)
    assert shared <= set(reg_params) and shared <= set(clf_params)
    assert {"scale_target", "criterion"} <= set(reg_params)
    assert "class_weight" not in reg_params and "scale_target" not in clf_params
    assert "conv_filters : tuple of int" in CNNRegressor.__doc__
    assert "{parameters}" not in CNNRegressor.__doc__
    # scikit-learn's repr (not skorch's "<class ...>[uninitialized](module=None,)") shows only
    # the parameters that differ from the signature's defaults, fitted or not.
    assert repr(CNNRegressor(max_epochs=3)) == "CNNRegressor(max_epochs=3)"
    assert repr(CNNClassifier(optimizer="sgd", lr=0.1)) == "CNNClassifier(lr=0.1, optimizer='sgd')"


def test_pipeline_grid_search_and_persistence(digit_brightness, tmp_path):
    X_train, X_test, Y_train, _ = digit_brightness
    X_train, y_train = (X_train[:300] * 255).astype(np.uint8), Y_train[:300, 0]
    pipe = Pipeline([("norm", ImageNormalizer()),
                     ("aug", ImageAugmenter(horizontal_flip=False, crop_padding=1)),
                     ("cnn", _regressor(max_epochs=2, conv_filters=(8,)))])

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


def test_plot_history_shows_r2_for_a_regressor():
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    from sk_cnn.plotting import plot_history

    X = np.random.default_rng(0).normal(size=(60, 12)).astype(np.float32)
    reg = _regressor(max_epochs=2).fit(X, X.mean(axis=1))
    fig = plot_history(reg)
    assert [ax.get_title() for ax in fig.axes] == ["loss", "r2"]
    assert len(fig.axes[1].lines) == 2  # train_r2 and valid_r2


SIGNALS = np.random.default_rng(1).random((30, 20)).astype(np.float32)
TARGETS = np.random.default_rng(2).random(30)


def test_a_refit_that_fails_before_training_leaves_the_fitted_model_as_it_was():
    reg = _regressor(conv_filters=(4,), max_epochs=1).fit(SIGNALS, TARGETS)
    before = reg.predict(SIGNALS)
    with pytest.raises(ValueError, match="mirrors images"):  # fails after y was read
        reg.set_params(tta="flip").fit(SIGNALS, TARGETS * 1000 + 5000)
    with pytest.raises(ValueError, match="too small"):  # fails building the network
        reg.set_params(tta=None, padding="valid", kernel_size=7).fit(SIGNALS[:, :5], TARGETS)
    reg.set_params(padding="same", kernel_size=3)
    np.testing.assert_array_equal(reg.predict(SIGNALS), before)  # not 1000x, not (5,) input
    assert reg.input_shape_ == (20,) and reg.target_mean_ == pytest.approx(TARGETS.mean())


def test_tta_set_after_a_fit_on_signals_is_refused_everywhere(tmp_path):
    reg = _regressor(conv_filters=(4,), max_epochs=1).fit(SIGNALS, TARGETS)
    reg.set_params(tta="flip")  # would silently reverse time
    for call in (lambda: reg.predict(SIGNALS), lambda: reg.partial_fit(SIGNALS, TARGETS)):
        with pytest.raises(ValueError, match="mirrors images.*set tta=None"):
            call()
    clf = CNNClassifier(conv_filters=(4,), max_epochs=1, verbose=0).fit(SIGNALS, TARGETS > 0.5)
    clf.set_params(tta="flip")
    with pytest.raises(ValueError, match="mirrors images"):
        sk_cnn.export_program(clf, tmp_path / "m.pt2")


def test_small_data_keeps_two_validation_samples_for_r2(recwarn):
    # ceil(10% of 10) = 1 sample, on which R^2 is undefined (NaN plus a warning each epoch).
    reg = _regressor(conv_filters=(4,), max_epochs=2).fit(SIGNALS[:10], TARGETS[:10])
    assert np.isfinite(reg.history[:, "valid_r2"]).all()
    assert not [w for w in recwarn if "R^2" in str(w.message)]
    # 3 samples: 2 for validation would leave 1 to train on, where R^2 is undefined: no split.
    recwarn.clear()
    reg = _regressor(conv_filters=(4,), max_epochs=2).fit(SIGNALS[:3], TARGETS[:3])
    assert "valid_loss" not in reg.history[-1]
    assert not [w for w in recwarn if "R^2" in str(w.message)]


def test_early_stopping_without_room_for_a_split_is_refused():
    with pytest.raises(ValueError, match="early_stopping needs a validation split, and 3"):
        _regressor(conv_filters=(4,), early_stopping=2).fit(SIGNALS[:3], TARGETS[:3])


def test_extreme_and_misshapen_targets_get_clear_errors_or_work():
    big = _regressor(conv_filters=(4,), max_epochs=1).fit(SIGNALS, TARGETS * 1e154)
    assert np.isfinite(big.target_scale_).all() and np.isfinite(big.predict(SIGNALS)).all()
    with pytest.raises(ValueError, match="beyond float32's range"):
        _regressor(max_epochs=1, scale_target=False).fit(SIGNALS, TARGETS * 1e39)
    reg = _regressor(conv_filters=(4,), max_epochs=1).fit(SIGNALS, TARGETS)
    with pytest.raises(ValueError, match=r"got shape \(30, 1, 1\)"):
        reg.partial_fit(SIGNALS, TARGETS.reshape(-1, 1, 1))
    with pytest.raises(TypeError, match=r"Weighting samples is not supported\.$"):
        reg.fit(SIGNALS, TARGETS, sample_weight=np.ones(30))


def test_checkpoint_dir_backs_up_a_regressor(tmp_path):
    # The backup's fingerprint read classes_, which a regressor has not.
    class BackupSeen(Callback):
        def on_epoch_end(self, net, **kwargs):
            net.history.record("backup_files", len(list(tmp_path.iterdir())))

    reg = _regressor(conv_filters=(4,), max_epochs=2, checkpoint_dir=tmp_path,
                     callbacks=[("seen", BackupSeen())])
    reg.fit(SIGNALS, TARGETS)
    assert reg.history[:, "backup_files"] == [1, 1]  # written after every epoch
    assert not any(tmp_path.iterdir())  # and discarded when training completes
    again = _regressor(conv_filters=(4,), max_epochs=2).fit(SIGNALS, TARGETS)
    np.testing.assert_allclose(reg.predict(SIGNALS), again.predict(SIGNALS), rtol=1e-5)
