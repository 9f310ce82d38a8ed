"""The learning-rate finder: Smith's range test on a copy of an estimator or a Pipeline."""

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted
from skorch.callbacks import Callback

import sk_cnn
from sk_cnn import CNNClassifier, CNNRegressor, ImageNormalizer, ImageReshaper, lr_find
from sk_cnn.inspection import LRFinderResult
from sk_cnn.training._lr_finder import LRRangeTest, RangeTestDone, smooth, suggest_lr

# 900 digits in batches of 64: 14 batches an epoch (the last 4 images join the 14th).
BATCHES_PER_EPOCH = 14


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:900], y[:900]


def _pipeline(**params):
    return Pipeline([("reshape", ImageReshaper(image_shape=(8, 8))), ("norm", ImageNormalizer()),
                     ("cnn", CNNClassifier(**{"conv_filters": (8, 16), "verbose": 0,
                                              "random_state": 0, **params}))])


@pytest.fixture(scope="module")
def adam_result(digits):
    X, y = digits
    return lr_find(_pipeline(), X, y, start_lr=1e-4, end_lr=10.0, stop_factor=None)


def test_the_curve_rises_geometrically_over_one_epoch_at_most(adam_result):
    result = adam_result
    assert isinstance(result, LRFinderResult)
    # Every batch of the epoch but the last trains at a rate; the last measures its step.
    assert len(result.lrs) == len(result.losses) == len(result.smoothed_losses) == (
        BATCHES_PER_EPOCH - 1)
    assert result.lrs[0] == pytest.approx(1e-4) and result.lrs[-1] == pytest.approx(10.0)
    ratios = result.lrs[1:] / result.lrs[:-1]
    np.testing.assert_allclose(ratios, ratios[0])
    assert ratios[0] > 1
    assert np.all(np.isfinite(result.losses))
    assert not result.diverged
    assert set(result.suggestions) == {"minimum", "steep", "valley"}
    assert result.rule == "minimum" and result.suggestion == result.suggestions["minimum"]
    for lr in result.suggestions.values():
        assert result.lrs[0] <= lr <= result.lrs[-1]


def test_a_large_learning_rate_trains_and_a_too_large_one_diverges(adam_result):
    # The loss falls below its start on the ramp, and rises far above it at its end.
    losses = adam_result.smoothed_losses
    assert losses.min() < 0.9 * losses[0]
    assert adam_result.losses[-1] > losses.min() * 2


def test_num_iter_caps_the_batches_and_the_loss_diverging_stops_the_test(digits):
    X, y = digits
    result = lr_find(_pipeline(), X, y, num_iter=8, start_lr=1e-4, end_lr=1e-2)
    assert len(result.lrs) == 7
    assert result.lrs[-1] == pytest.approx(1e-2)
    diverged = lr_find(_pipeline(), X, y, start_lr=1e-3, end_lr=1e4)
    assert diverged.diverged
    assert len(diverged.lrs) < BATCHES_PER_EPOCH - 1


def test_the_callers_unfitted_pipeline_is_left_unfitted_and_unchanged(digits):
    X, y = digits
    pipe = _pipeline(optimizer="sgd")
    steps = list(pipe.named_steps.items())
    params = {name: step.get_params(deep=False) for name, step in steps}
    result = lr_find(pipe, X, y)
    assert len(result.lrs) >= 5
    assert list(pipe.named_steps.items()) == steps
    for name, step in steps:
        after = step.get_params(deep=False)
        assert after.keys() == params[name].keys()
        assert all(after[k] is params[name][k] or after[k] == params[name][k] for k in after)
    with pytest.raises(NotFittedError):
        check_is_fitted(pipe[-1])
    assert not hasattr(pipe["norm"], "mean_") and not hasattr(pipe["reshape"], "n_features_in_")


def test_the_callers_fitted_estimator_predicts_as_before(digits):
    X, y = digits
    X = X.reshape(-1, 8, 8) / 16
    clf = CNNClassifier(conv_filters=(8,), max_epochs=1, verbose=0, random_state=0).fit(X, y)
    proba = clf.predict_proba(X[:50])
    weights = {k: v.clone() for k, v in clf.module_.state_dict().items()}
    params, history = clf.get_params(deep=False), list(clf.history)
    lr_find(clf, X, y)
    np.testing.assert_array_equal(clf.predict_proba(X[:50]), proba)
    for key, value in clf.module_.state_dict().items():
        assert torch.equal(value, weights[key])
    assert clf.get_params(deep=False) == params and list(clf.history) == history
    assert clf.lr_schedule == "cosine" and clf.max_epochs == 1


class _GroupRecorder(Callback):
    """Records the optimizer's groups after every training batch (before the test's end)."""

    def on_batch_end(self, net, training=False, **kwargs):
        self.groups = [dict(group, params=None) for group in net.optimizer_.param_groups]


def test_every_parameter_group_keeps_its_ratio_to_the_ramp(digits):
    # The head trains at 10 times the rate (as a backbone at backbone_lr_factor would at its
    # factor): the test scales both groups alike.
    X, y = digits
    X = X.reshape(-1, 8, 8) / 16
    test, recorder = LRRangeTest(1e-5, 1e-3, num_iter=6), _GroupRecorder()
    clf = CNNClassifier(conv_filters=(8,), optimizer="sgd", verbose=0, random_state=0,
                        optimizer__param_groups=[("head.*", {"lr": 0.5})],
                        callbacks=[("recorder", recorder), ("lr_range_test", test)])
    with pytest.raises(RangeTestDone):
        clf.fit(X, y)
    assert test.scales_ == [pytest.approx(10.0), pytest.approx(1.0)]
    head, rest = recorder.groups
    assert head["lr"] == pytest.approx(10 * rest["lr"]) and rest["lr"] == pytest.approx(1e-3)
    assert rest["momentum"] == 0.9  # the estimator's optimizer, momentum included
    assert len(test.lrs_) == 5 and test.initial_loss_ is not None


def test_a_regressor_and_a_bare_estimator_work(digits):
    X, y = digits
    X = X.reshape(-1, 8, 8) / 16
    result = lr_find(CNNRegressor(conv_filters=(8,), verbose=0, random_state=0), X,
                     y.astype(float), num_iter=8, stop_factor=None)
    assert len(result.lrs) == 7 and np.all(np.isfinite(result.smoothed_losses))


@pytest.mark.parametrize("kwargs, message", [
    (dict(start_lr=1.0, end_lr=1e-3), "start_lr must be smaller than end_lr"),
    (dict(start_lr=0.0), "start_lr must be a positive"),
    (dict(end_lr=float("inf")), "end_lr must be a positive"),
    (dict(num_iter=3), "num_iter must be an integer >= 5"),
    (dict(num_iter=10.0), "num_iter must be an integer"),
    (dict(rule="fastest"), "rule must be one of 'minimum', 'steep', 'valley'"),
    (dict(stop_factor=0.5), "stop_factor must be greater than 1"),
])
def test_invalid_arguments_are_refused(digits, kwargs, message):
    X, y = digits
    with pytest.raises(ValueError, match=message):
        lr_find(_pipeline(), X, y, **kwargs)


def test_other_estimators_and_too_little_data_are_refused(digits):
    X, y = digits
    with pytest.raises(TypeError, match="CNNClassifier or CNNRegressor.*LogisticRegression"):
        lr_find(Pipeline([("norm", ImageNormalizer()), ("lr", LogisticRegression())]), X, y)
    pipe = _pipeline()
    with pytest.raises(ValueError, match="gives 3 training batch.*at least 5"):
        lr_find(pipe, X[:180], y[:180])
    with pytest.raises(ValueError):  # fit's own check of the data
        lr_find(pipe, X, y[:-1])
    assert not hasattr(pipe[-1], "module_")


def test_the_rules_read_a_curve_smoothed_without_lag():
    lrs = np.geomspace(1e-6, 1.0, 61)
    # Falls towards 1e-2 and rises after it, symmetric in log learning rate.
    losses = 2 + (np.log10(lrs) + 2) ** 2 / 4
    smoothed = smooth(lrs, losses)
    assert lrs[np.argmin(smoothed)] == pytest.approx(1e-2)
    assert suggest_lr(lrs, smoothed, "minimum") == pytest.approx(1e-2, rel=0.05)
    assert suggest_lr(lrs, smoothed, "steep") < 1e-5  # the curve is steepest at its start
    assert 1e-6 < suggest_lr(lrs, smoothed, "valley") < 1e-2


def test_the_result_plots_with_the_suggestion_marked(adam_result):
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    from sk_cnn.plotting import plot_lr_find

    fig = adam_result.plot()
    try:
        ax = fig.axes[0]
        assert ax.get_xscale() == "log"
        assert f"{adam_result.suggestion:.2g}" in ax.get_legend().get_texts()[-1].get_text()
        with pytest.raises(TypeError, match="result of sk_cnn.lr_find"):
            plot_lr_find(clone(CNNClassifier()))
    finally:
        plt.close("all")


def test_lr_find_is_public_at_the_top_level():
    assert sk_cnn.lr_find is sk_cnn.inspection.lr_find
    assert "lr_find" in sk_cnn.__all__
