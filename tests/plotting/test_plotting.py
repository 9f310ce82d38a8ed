"""The plots: curves, filters, predictions, confusion matrices."""

import importlib
import sys

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.metrics import confusion_matrix
from sklearn.pipeline import Pipeline

from sk_cnn import (
    CNNClassifier,
    CNNRegressor,
    ImageNormalizer,
    ImageReshaper,
    plotting,  # noqa: E402
)
from sk_cnn.plotting import plot_filters

matplotlib = pytest.importorskip("matplotlib")


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def _rgb_data(n=48):
    rng = np.random.default_rng(0)
    y = np.repeat(["cat", "dog", "eel"], n // 3)
    X = rng.integers(0, 60, size=(n, 10, 10, 3)).astype(np.uint8)
    X[y == "dog", :5] += 150
    X[y == "eel", :, :5] += 150
    return X, y


@pytest.fixture(scope="module")
def rgb_clf():
    X, y = _rgb_data()
    clf = CNNClassifier(conv_filters=(6, 8), max_epochs=3, batch_size=16, verbose=0,
                        random_state=0)
    return clf.fit(X, y), X, y


@pytest.fixture(scope="module")
def flat_pipe():
    """Flat rows of 8x8 grayscale pixels through ImageReshaper: a Pipeline to plot."""
    rng = np.random.default_rng(1)
    y = np.repeat([0, 1], 30)
    X = rng.random((60, 64))
    X[y == 1, :32] += 1.0
    pipe = Pipeline([("reshape", ImageReshaper(image_shape=(8, 8))), ("norm", ImageNormalizer()),
                     ("cnn", CNNClassifier(conv_filters=(5,), max_epochs=2, batch_size=16,
                                           verbose=0, random_state=0))])
    return pipe.fit(X, y), X, y


def test_plot_history_draws_train_and_validation_per_metric(rgb_clf):
    clf, _, _ = rgb_clf
    fig = plotting.plot_history(clf)
    assert isinstance(fig, matplotlib.figure.Figure)
    assert [ax.get_title() for ax in fig.axes] == ["loss", "accuracy"]
    for ax, keys in zip(fig.axes, [("train_loss", "valid_loss"), ("train_acc", "valid_acc")]):
        lines = ax.get_lines()
        assert [line.get_label() for line in lines] == ["train", "validation"]
        for line, key in zip(lines, keys):
            np.testing.assert_array_equal(line.get_xdata(), [1, 2, 3])
            np.testing.assert_allclose(line.get_ydata(), clf.history[:, key])


def test_plot_history_of_a_history_pipeline_and_other_metrics(rgb_clf, flat_pipe):
    clf, _, _ = rgb_clf
    fig = plotting.plot_history(clf.history, metrics="loss")
    assert len(fig.axes) == 1 and len(fig.axes[0].get_lines()) == 2
    fig = plotting.plot_history(flat_pipe[0], metrics=("accuracy", "lr", "dur"))
    assert [len(ax.get_lines()) for ax in fig.axes] == [2, 1, 1]
    np.testing.assert_allclose(fig.axes[1].get_lines()[0].get_ydata(),
                               flat_pipe[0][-1].history[:, "event_lr"])
    with pytest.raises(ValueError, match="no values for metric 'f1'.*train_loss"):
        plotting.plot_history(clf, metrics=("loss", "f1"))
    with pytest.raises(ValueError, match="metrics is empty"):
        plotting.plot_history(clf, metrics=())


@pytest.mark.parametrize("schedule", ["onecycle", "warmup_linear"])
def test_plot_history_draws_a_learning_rate_stepped_every_batch(schedule):
    X, y = _rgb_data(48)  # 43 training images: 6 batches of 7 (the last takes the 43rd)
    clf = CNNClassifier(conv_filters=(4,), max_epochs=2, batch_size=7, lr_schedule=schedule,
                        verbose=0, random_state=0).fit(X, y)
    line = plotting.plot_history(clf, metrics="lr").axes[0].get_lines()[0]
    batches = [b["event_lr"] for row in clf.history for b in row["batches"] if "event_lr" in b]
    assert len(batches) == 12
    np.testing.assert_allclose(line.get_xdata(), np.arange(1, 13) / 6)
    np.testing.assert_allclose(line.get_ydata(), batches)
    no_schedule = CNNClassifier(conv_filters=(4,), max_epochs=1, lr_schedule=None, verbose=0)
    with pytest.raises(ValueError, match="recorded when lr_schedule is set"):
        plotting.plot_history(no_schedule.fit(X, y), metrics="lr")


def test_plot_history_without_validation_split_draws_training_only():
    X, y = _rgb_data(24)
    clf = CNNClassifier(conv_filters=(4,), max_epochs=2, validation_fraction=0, verbose=0,
                        random_state=0).fit(X, y)
    fig = plotting.plot_history(clf)
    assert [[line.get_label() for line in ax.get_lines()] for ax in fig.axes] == \
        [["train"], ["train"]]


def test_plot_history_refuses_unfitted_and_foreign_objects():
    with pytest.raises(NotFittedError, match="fit the classifier first"):
        plotting.plot_history(CNNClassifier())
    with pytest.raises(TypeError, match="skorch History"):
        plotting.plot_history(object())


def test_compare_histories_overlays_runs(rgb_clf, flat_pipe):
    clf, _, _ = rgb_clf
    fig = plotting.compare_histories({"rgb": clf, "flat": flat_pipe[0]})
    assert len(fig.axes) == 2
    for ax in fig.axes:
        labels = [line.get_label() for line in ax.get_lines()]
        assert labels == ["rgb (train)", "rgb (validation)", "flat (train)", "flat (validation)"]
        colors = [line.get_color() for line in ax.get_lines()]
        assert colors[0] == colors[1] != colors[2] == colors[3]
    loss = fig.axes[0].get_lines()
    np.testing.assert_allclose(loss[3].get_ydata(), flat_pipe[0][-1].history[:, "valid_loss"])
    fig = plotting.compare_histories({"a": clf, "b": clf.history}, metrics="accuracy",
                                     subsets="valid")
    assert [line.get_label() for line in fig.axes[0].get_lines()] == \
        ["a (validation)", "b (validation)"]
    with pytest.raises(TypeError, match="non-empty mapping"):
        plotting.compare_histories([clf])
    with pytest.raises(ValueError, match="subsets"):
        plotting.compare_histories({"a": clf}, subsets=("test",))


def test_compare_histories_titles_the_figure_with_the_runs(rgb_clf, flat_pipe):
    clf, _, _ = rgb_clf
    fig = plotting.compare_histories({"rgb": clf, "flat": flat_pipe[0]})
    assert fig.get_suptitle() == "Compared: rgb, flat"
    assert [ax.get_title() for ax in fig.axes] == ["loss", "accuracy"]
    fig = plotting.compare_histories({"a": clf}, title="Adam against SGD")
    assert fig.get_suptitle() == "Adam against SGD"
    assert plotting.compare_histories({"a": clf}, title="").get_suptitle() == ""


def test_plot_filters_rgb_first_layer(rgb_clf):
    clf, _, _ = rgb_clf
    fig = plotting.plot_filters(clf)
    assert len(fig.axes) == 6  # one per filter of the first convolution
    weights = clf.module_.features.block1.conv.weight.detach().cpu().numpy()
    for ax, kernel in zip(fig.axes, weights):
        image = ax.get_images()[0].get_array()
        assert image.shape == (3, 3, 3)  # RGB, (kh, kw, channels)
        assert image.min() == pytest.approx(0) and image.max() == pytest.approx(1)
        expected = kernel.transpose(1, 2, 0)
        expected = (expected - expected.min()) / (expected.max() - expected.min())
        np.testing.assert_allclose(image, expected, rtol=1e-5)
    assert "features.block1.conv" in fig._suptitle.get_text()
    assert "RGB" in fig._suptitle.get_text()


def test_plot_filters_grayscale_channel_and_deeper_layers(rgb_clf, flat_pipe):
    clf, _, _ = rgb_clf
    fig = plotting.plot_filters(flat_pipe[0])  # 1 input channel: grayscale
    assert len(fig.axes) == 5
    assert all(ax.get_images()[0].get_array().shape == (3, 3) for ax in fig.axes)
    fig = plotting.plot_filters(clf, layer=1, max_filters=4)  # 6 input channels: their mean
    weights = clf.module_.features.block2.conv.weight.detach().cpu().numpy()
    assert len(fig.axes) == 4
    np.testing.assert_allclose(fig.axes[2].get_images()[0].get_array(), weights[2].mean(axis=0),
                               rtol=1e-6)
    fig = plotting.plot_filters(clf, layer=-1, channel=5)
    np.testing.assert_allclose(fig.axes[0].get_images()[0].get_array(), weights[0, 5], rtol=1e-6)
    with pytest.raises(ValueError, match=r"layer must be an integer in \[-2, 1\]"):
        plotting.plot_filters(clf, layer=2)
    with pytest.raises(ValueError, match="channel must be"):
        plotting.plot_filters(clf, channel=3)
    with pytest.raises(NotFittedError):
        plotting.plot_filters(CNNClassifier())


def test_plot_filters_of_1d_convolutions():
    rng = np.random.default_rng(0)
    X, y = rng.random((30, 20)), np.repeat([0, 1], 15)
    clf = CNNClassifier(conv_filters=(3,), max_epochs=1, verbose=0).fit(X, y)
    fig = plotting.plot_filters(clf)
    assert len(fig.axes) == 3
    assert [len(ax.get_lines()) for ax in fig.axes] == [1, 1, 1]  # one curve per input channel


def test_plot_filters_title_of_1d_convolutions_over_several_channels():
    rng = np.random.default_rng(0)
    X, y = rng.random((20, 3, 30)).astype(np.float32), np.repeat([0, 1], 10)
    clf = CNNClassifier(conv_filters=(4,), max_epochs=1, batch_size=10, verbose=0,
                        input_type="signal", validation_fraction=None).fit(X, y)
    fig = plotting.plot_filters(clf)
    weights = clf.module_.features.block1.conv.weight.detach().cpu().numpy()
    lines = fig.axes[0].get_lines()
    assert len(lines) == 3  # each input channel's kernel, not their mean
    for line, kernel in zip(lines, weights[0]):
        np.testing.assert_allclose(line.get_ydata(), kernel, rtol=1e-6)
    title = fig._suptitle.get_text()
    assert "3 input channels, one curve each" in title and "mean" not in title


def test_plot_predictions_titles_are_predicted_and_true(rgb_clf):
    clf, X, y = rgb_clf
    fig = plotting.plot_predictions(clf, X, y, n_images=10, ncols=5)
    assert len(fig.axes) == 10
    predicted = clf.predict(X[:10])
    for i, (ax, p, t) in enumerate(zip(fig.axes, predicted, y[:10])):
        assert ax.get_title() == f"{p} / {t}"
        assert (ax.title.get_color() == "red") == (p != t)
        np.testing.assert_array_equal(ax.get_images()[0].get_array(), X[i])  # uint8 RGB as is
    names = {"cat": "Cat", "dog": "Dog", "eel": "Eel"}
    fig = plotting.plot_predictions(clf, X[:4], class_names=names)
    assert [ax.get_title() for ax in fig.axes] == [names[p] for p in clf.predict(X[:4])]


def test_plot_predictions_of_a_pipeline_and_only_errors(flat_pipe):
    pipe, X, y = flat_pipe
    y_flipped = 1 - y  # every prediction that was right is now wrong, and the reverse
    predicted = pipe.predict(X)
    fig = plotting.plot_predictions(pipe, X, y_flipped, only_errors=True, n_images=100,
                                    class_names=["zero", "one"])
    wrong = np.flatnonzero(predicted != y_flipped)
    assert len(fig.axes) == len(wrong) > 0
    assert all(ax.title.get_color() == "red" for ax in fig.axes)
    first = fig.axes[0].get_images()[0].get_array()
    assert first.shape == (8, 8)  # flat rows shown as the 8x8 images the classifier receives
    np.testing.assert_allclose(first, pipe[:-1].transform(X)[wrong[0]], rtol=1e-6)
    fig = plotting.plot_predictions(pipe, X, predicted, only_errors=True)
    assert "No misclassified" in fig.axes[0].texts[0].get_text()
    with pytest.raises(ValueError, match="needs the true labels"):
        plotting.plot_predictions(pipe, X, only_errors=True)


def test_plot_confusion_matrix_counts(rgb_clf, flat_pipe):
    clf, X, y = rgb_clf
    fig = plotting.plot_confusion_matrix(clf, X, y)
    assert len(fig.axes) == 2  # the matrix and its colorbar
    ax = fig.axes[0]
    expected = confusion_matrix(y, clf.predict(X), labels=clf.classes_)
    np.testing.assert_array_equal(ax.get_images()[0].get_array(), expected)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["cat", "dog", "eel"]
    pipe, Xf, yf = flat_pipe
    fig = plotting.plot_confusion_matrix(pipe, Xf, yf, normalize="true",
                                         class_names=["zero", "one"])
    matrix = fig.axes[0].get_images()[0].get_array()
    np.testing.assert_allclose(matrix.sum(axis=1), 1)
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["zero", "one"]


def test_plot_confusion_matrix_title_names_the_normalization_and_accuracy(rgb_clf):
    clf, X, y = rgb_clf
    accuracy = np.mean(clf.predict(X) == y)
    ax = plotting.plot_confusion_matrix(clf, X, y).axes[0]
    assert ax.get_title() == f"Confusion matrix (accuracy {accuracy:.3f})"
    ax = plotting.plot_confusion_matrix(clf, X, y, normalize="true").axes[0]
    assert ax.get_title() == \
        f"Confusion matrix, fractions of each true class (accuracy {accuracy:.3f})"
    assert plotting.plot_confusion_matrix(clf, X, y, title="Mine").axes[0].get_title() == "Mine"
    assert plotting.plot_confusion_matrix(clf, X, y, title="").axes[0].get_title() == ""


@pytest.mark.parametrize("normalize", ["true", "pred", "all"])
def test_plot_confusion_matrix_prints_fractions_with_two_decimals(rgb_clf, normalize):
    clf, X, y = rgb_clf
    ax = plotting.plot_confusion_matrix(clf, X, y, normalize=normalize).axes[0]
    matrix = ax.get_images()[0].get_array()
    # Cells of exactly 0 (and, for "true" and "pred", 1) are what a mixed format prints as
    # "0" or "1" next to "0.33": the check below would not see that without them.
    assert np.any(matrix == 0)
    texts = [text.get_text() for text in ax.texts]
    assert len(texts) == matrix.size
    assert texts == [f"{value:.2f}" for value in np.ravel(matrix)]


def test_plot_confusion_matrix_prints_counts_as_integers(rgb_clf):
    clf, X, y = rgb_clf
    X, y = np.concatenate([X] * 7), np.concatenate([y] * 7)  # counts of 100 and more
    ax = plotting.plot_confusion_matrix(clf, X, y).axes[0]
    matrix = np.asarray(ax.get_images()[0].get_array())
    assert matrix.max() >= 100
    assert [text.get_text() for text in ax.texts] == [str(int(v)) for v in np.ravel(matrix)]


def test_plot_confusion_matrix_refuses_labels_outside_classes(rgb_clf):
    clf, X, y = rgb_clf
    y_unseen = y.copy()
    y_unseen[:5] = "fox"  # a class the classifier never saw: its samples would be dropped
    with pytest.raises(ValueError, match=r"labels \['fox'\] that are not among the classes"):
        plotting.plot_confusion_matrix(clf, X, y_unseen)
    assert plt.get_fignums() == []


def test_plot_confusion_matrix_leaves_no_figure_open_when_it_raises(rgb_clf):
    clf, X, y = rgb_clf
    with pytest.raises(ValueError, match=r"fitted on samples of shape \(10, 10, 3\), but X "
                                         r"has samples of shape \(4, 10, 3\)"):
        plotting.plot_confusion_matrix(clf, X[:, :4], y)  # images of the wrong shape
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        plotting.plot_confusion_matrix(clf, X, y[:-1])
    with pytest.raises(ValueError, match="'no-such-colormap' is not a valid"):
        plotting.plot_confusion_matrix(clf, X, y, cmap="no-such-colormap")
    assert plt.get_fignums() == []


def test_classifier_only_plots_refuse_regressors():
    rng = np.random.default_rng(0)
    X, target = rng.random((20, 8, 8)).astype(np.float32), rng.random(20)
    reg = CNNRegressor(conv_filters=(4,), max_epochs=1, batch_size=10, verbose=0,
                       validation_fraction=None).fit(X, target)
    pipe = Pipeline([("norm", ImageNormalizer()), ("cnn", reg)])
    for estimator in (reg, pipe, CNNRegressor()):
        with pytest.raises(TypeError, match="plot_predictions needs a classifier.*plot_history"):
            plotting.plot_predictions(estimator, X, target)
        with pytest.raises(TypeError,
                           match="plot_confusion_matrix needs a classifier.*plot_history"):
            plotting.plot_confusion_matrix(estimator, X, target)
    assert plt.get_fignums() == []


def test_plot_predictions_refuses_unnamed_labels_with_a_list_of_class_names(flat_pipe):
    pipe, X, y = flat_pipe
    y_unseen = y.copy()
    y_unseen[0] = 2
    with pytest.raises(ValueError, match=r"labels \[2\] that are not among the classes.*"
                                         r"class_names"):
        plotting.plot_predictions(pipe, X, y_unseen, class_names=["zero", "one"])
    assert plt.get_fignums() == []
    fig = plotting.plot_predictions(pipe, X, y_unseen, n_images=1,
                                    class_names={0: "zero", 1: "one"})
    assert fig.axes[0].get_title().endswith(" / 2")  # a mapping shows unnamed labels as is


def test_missing_matplotlib_names_the_extra(monkeypatch):
    for name in list(sys.modules):
        if name == "matplotlib" or name.startswith("matplotlib."):
            monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.delitem(sys.modules, "sk_cnn.plotting", raising=False)
    with pytest.raises(ImportError, match=r'sk_cnn\[plot\]'):
        importlib.import_module("sk_cnn.plotting")




def test_plot_history_shows_r2_for_a_regressor(small_regressor):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    from sk_cnn.plotting import plot_history

    X = np.random.default_rng(0).normal(size=(60, 12)).astype(np.float32)
    reg = small_regressor(max_epochs=2).fit(X, X.mean(axis=1))
    fig = plot_history(reg)
    assert [ax.get_title() for ax in fig.axes] == ["loss", "r2"]
    assert len(fig.axes[1].lines) == 2  # train_r2 and valid_r2




def test_plot_filters_of_a_signal_network(two_frequency_signals):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    X, y = two_frequency_signals(n=40, length=32)
    clf = CNNClassifier(conv_filters=(6,), max_epochs=1, input_type="signal", verbose=0,
                        random_state=0).fit(X, y)
    fig = plot_filters(clf).figure
    assert len([ax for ax in fig.axes if ax.lines or ax.images]) >= 6

