"""Pictures of a CNNClassifier: training curves, first-layer filters, predictions, confusions.

matplotlib is an optional extra: ``pip install "sk_cnn[plot]"``. Every function takes a fitted
:class:`~sk_cnn.CNNClassifier` or a fitted ``Pipeline`` ending in one (all but
:func:`plot_predictions` and :func:`plot_confusion_matrix` also take a
:class:`~sk_cnn.CNNRegressor`), and returns the ``matplotlib.figure.Figure`` it drew (made
with pyplot, so notebooks and sphinx-gallery show it; ``fig.savefig(path)`` saves it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from numbers import Integral

import numpy as np
from sklearn.base import is_classifier
from sklearn.exceptions import NotFittedError
from sklearn.metrics import ConfusionMatrixDisplay, confusion_matrix
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted
from skorch.history import History
from torch import nn

from .classifier import unknown_labels
from .data import canonical_view

try:
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator
except ImportError as exc:  # tests/test_plotting.py hides matplotlib to check the message
    raise ImportError(
        'sk_cnn.plotting needs matplotlib, an optional extra of sk_cnn: pip install '
        '"sk_cnn[plot]" (or pip install matplotlib).') from exc

__all__ = ["compare_histories", "plot_confusion_matrix", "plot_filters", "plot_history",
           "plot_predictions"]

# Metric names accepted by plot_history -> suffix of the history keys (train_<s>, valid_<s>).
_METRIC_SUFFIX = {"loss": "loss", "accuracy": "acc", "acc": "acc"}
_SUBSET_LABEL = {"train": "train", "valid": "validation"}
_SUBSET_STYLE = {"train": "-", "valid": "--"}


def _last_step(estimator):
    return estimator.steps[-1][1] if isinstance(estimator, Pipeline) else estimator


def _history(source) -> History:
    """The skorch History of a fitted classifier or Pipeline, or the History itself."""
    if isinstance(source, History):
        history = source
    elif isinstance(source, list) and all(isinstance(row, Mapping) for row in source):
        history = History(source)
    else:
        net = _last_step(source)
        if not hasattr(net, "initialize_callbacks"):  # skorch nets only
            raise TypeError(
                f"Expected a fitted CNNClassifier (or skorch net), a Pipeline ending in one, or "
                f"a skorch History; got {type(source).__name__}.")
        history = getattr(net, "history_", None)
    if not history:
        raise NotFittedError("The history is empty: fit the classifier first.")
    return history


def _curves(history: History, metric: str, subsets=("train", "valid")):
    """[(subset or None, history key)] of one metric; raises when the history has none."""
    if not isinstance(metric, str):
        raise TypeError(f"Metric names are strings, got {metric!r}.")
    keys = set().union(*(row.keys() for row in history)) - {"batches"}
    suffix = _METRIC_SUFFIX.get(metric, metric)
    found = [(subset, f"{subset}_{suffix}") for subset in subsets
             if f"{subset}_{suffix}" in keys]
    # A key of its own, e.g. "dur", or "lr" (recorded as "event_lr", per epoch or, for the
    # schedules stepped every batch, per batch).
    keys |= {key for row in history for batch in row.get("batches", ()) for key in batch}
    if not found:
        found = [(None, key) for key in (metric, f"event_{metric}") if key in keys][:1]
    if not found:
        hint = (" The learning rate is recorded when lr_schedule is set." if metric == "lr"
                else "")
        raise ValueError(
            f"The history has no values for metric {metric!r}. Use 'loss', 'accuracy' or one "
            f"of the recorded keys: {sorted(keys)}.{hint}")
    return found


def _column(history: History, key: str) -> tuple[np.ndarray, np.ndarray]:
    """Epochs and values of ``key``; a key recorded per batch gives one point per batch, at
    fractional epochs (the end of batch j of n in epoch e is at ``e - 1 + j / n``)."""
    epochs = np.array([row.get("epoch", i + 1) for i, row in enumerate(history)])
    if any(key in row for row in history):
        return epochs, np.array([row.get(key, np.nan) for row in history], dtype=float)
    points = []
    for epoch, row in zip(epochs, history):
        batches = [batch for batch in row.get("batches", ()) if key in batch]
        points += [(epoch - 1 + (j + 1) / len(batches), batch[key])
                   for j, batch in enumerate(batches)]
    steps, values = zip(*points)
    return np.array(steps), np.array(values, dtype=float)


def _default_metrics(histories: dict) -> tuple[str, ...]:
    """Loss and the estimator's score: accuracy for classifiers, R^2 for regressors."""
    keys = set().union(*(row.keys() for history in histories.values() for row in history))
    for score, key in (("accuracy", "acc"), ("r2", "r2")):
        if {f"train_{key}", f"valid_{key}"} & keys:
            return ("loss", score)
    return ("loss",)


def _draw_runs(histories: dict, metrics, subsets, figsize):
    """One panel per metric, one color per run (name None: a single run); raises first."""
    if metrics is None:
        metrics = _default_metrics(histories)
    metrics = [metrics] if isinstance(metrics, str) else list(metrics)
    if not metrics:
        raise ValueError("metrics is empty: name at least one, e.g. metrics=('loss',).")
    curves = {(name, metric): _curves(history, metric, subsets)
              for name, history in histories.items() for metric in metrics}
    fig, axes = plt.subplots(1, len(metrics), figsize=figsize or (4.8 * len(metrics), 3.6),
                             squeeze=False, layout="constrained")
    for ax, metric in zip(axes[0], metrics):
        for i, (name, history) in enumerate(histories.items()):
            for subset, key in curves[name, metric]:
                epochs, values = _column(history, key)
                label = _SUBSET_LABEL.get(subset, key)
                if name is not None:
                    label = name if subset is None else f"{name} ({label})"
                ax.plot(epochs, values, _SUBSET_STYLE.get(subset, "-"), color=f"C{i % 10}",
                        marker="." if name is None else None, label=label)
        ax.set(title=metric, xlabel="epoch", ylabel=metric)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend()
    return fig


def plot_history(clf_or_history, metrics: Sequence[str] | str | None = None, *,
                 figsize: tuple[float, float] | None = None):
    """Plot training and validation curves per epoch, one panel per metric.

    Parameters
    ----------
    clf_or_history : CNNClassifier, CNNRegressor, Pipeline or skorch.History
        A fitted estimator (or Pipeline ending in one), or its ``history``.
    metrics : sequence of str, str or None, default=None
        None plots the loss and the estimator's score: ("loss", "accuracy") for a
        classifier, ("loss", "r2") for a :class:`~sk_cnn.CNNRegressor`. "loss" plots
        ``train_loss`` and ``valid_loss``, "accuracy" plots ``train_acc`` and
        ``valid_acc``; any other name plots ``train_<name>`` and ``valid_<name>``, or the
        history key of that name (e.g. "dur"; "lr" plots the learning rate, ``event_lr``,
        per batch for the schedules stepped every batch; it is recorded when
        ``lr_schedule`` is set, for the optimizer's first parameter group: the backbone's with
        ``backbone_lr_factor``, the BatchNorm shifts' (64 ``lr``) in the airbench recipe).
    figsize : tuple of float or None, default=None
        Figure size in inches; None gives 4.8 x 3.6 per panel.

    Returns
    -------
    fig : matplotlib.figure.Figure
        One axes per metric; solid lines for training, dashed for validation (absent when the
        classifier had no validation split).
    """
    return _draw_runs({None: _history(clf_or_history)}, metrics, ("train", "valid"), figsize)


def compare_histories(runs: Mapping, metrics: Sequence[str] | str | None = None, *,
                      subsets: Sequence[str] = ("train", "valid"),
                      figsize: tuple[float, float] | None = None):
    """Overlay the curves of several runs, e.g. ``{"adam": clf1, "sgd": clf2}``.

    Parameters
    ----------
    runs : mapping of str to CNNClassifier, Pipeline or skorch.History
        Name of each run and the fitted classifier (or history) it made.
    metrics : sequence of str, str or None, default=None
        As in :func:`plot_history`.
    subsets : sequence of {"train", "valid"}, default=("train", "valid")
        Which curves to draw for every run: training (solid) and validation (dashed).
    figsize : tuple of float or None, default=None
        Figure size in inches; None gives 4.8 x 3.6 per panel.

    Returns
    -------
    fig : matplotlib.figure.Figure
        One axes per metric; one color per run.
    """
    if not isinstance(runs, Mapping) or not runs:
        raise TypeError("runs must be a non-empty mapping of run names to fitted classifiers "
                        "or histories, e.g. {'adam': clf1, 'sgd': clf2}.")
    subsets = [subsets] if isinstance(subsets, str) else list(subsets)
    unknown = [s for s in subsets if s not in _SUBSET_LABEL]
    if unknown or not subsets:
        raise ValueError(f"subsets must be among ('train', 'valid'), got {subsets!r}.")
    histories = {name: _history(run) for name, run in runs.items()}
    return _draw_runs(histories, metrics, subsets, figsize)


def _grid(n: int, ncols: int | None, cell: float, figsize):
    """A figure with exactly n axes on a grid (unused cells removed), ticks hidden."""
    ncols = max(1, min(n, ncols or 8))
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, squeeze=False, layout="constrained",
                             figsize=figsize or (cell * ncols, cell * nrows + 0.5))
    axes = axes.ravel()
    for ax in axes[n:]:
        fig.delaxes(ax)
    for ax in axes[:n]:
        ax.set_xticks([])
        ax.set_yticks([])
    return fig, axes[:n]


def _scaled(image: np.ndarray) -> np.ndarray:
    """Min-max scale to [0, 1] for display (constant images become 0.5)."""
    image = image.astype(float)
    low, high = image.min(), image.max()
    return np.full_like(image, 0.5) if high <= low else (image - low) / (high - low)


def _fitted(estimator):
    clf = _last_step(estimator)
    check_is_fitted(clf)
    return clf


def _fitted_classifier(estimator, function: str):
    """The fitted classifier of estimator; a TypeError names the fix for anything else."""
    clf = _last_step(estimator)
    if not is_classifier(clf):
        raise TypeError(
            f"{function} needs a classifier (a CNNClassifier or a Pipeline ending in one), got "
            f"{type(clf).__name__}. For a CNNRegressor use plot_history (training curves) or "
            f"plot_filters.")
    return _fitted(estimator)


def _check_known(y, classes, what: str):
    """Refuse labels of y outside classes (the classifier never predicts them)."""
    unknown = unknown_labels(y, classes)
    if unknown:
        raise ValueError(
            f"y has labels {unknown[:10]} that are not among the classes "
            f"{np.asarray(classes).tolist()[:10]} the classifier was fitted on, so {what}. "
            f"Drop those samples, or refit on data that has these classes.")


def plot_filters(clf, layer: int = 0, *, channel: int | None = None, max_filters: int = 64,
                 ncols: int | None = None, figsize: tuple[float, float] | None = None):
    """Show the kernels of a convolution layer as a grid of small images.

    Parameters
    ----------
    clf : CNNClassifier or Pipeline
        Fitted; its network is ``module_`` (of the Pipeline's last step).
    layer : int, default=0
        Which convolution, counting ``Conv1d`` and ``Conv2d`` layers of the network in order:
        0 is the first (``features.block1.conv`` in sk_cnn's CNN), -1 the last.
    channel : int or None, default=None
        Input channel to show (in grayscale for ``Conv2d``). None shows, for ``Conv2d``, RGB
        when the layer has 3 input channels and otherwise the mean over the input channels
        (the only channel for grayscale images); for ``Conv1d``, one curve per input channel.
    max_filters : int, default=64
        Show at most this many filters (the first ones).
    ncols : int or None, default=None
        Columns of the grid; None means 8 (fewer when there are fewer filters).
    figsize : tuple of float or None, default=None
        Figure size in inches; None gives 1 inch per filter.

    Returns
    -------
    fig : matplotlib.figure.Figure
        One axes per filter, each min-max scaled on its own (so compare shapes, not
        magnitudes). Kernels of 1-D convolutions are drawn as curves, one per channel shown.
    """
    net = _fitted(clf)
    convs = [(name, m) for name, m in net.module_.named_modules()
             if isinstance(m, (nn.Conv1d, nn.Conv2d))]
    if not convs:
        raise ValueError("The network has no Conv1d or Conv2d layer to show.")
    if not isinstance(layer, Integral) or not -len(convs) <= layer < len(convs):
        raise ValueError(f"layer must be an integer in [{-len(convs)}, {len(convs) - 1}] (the "
                         f"network has {len(convs)} convolutions), got {layer!r}.")
    if not isinstance(max_filters, Integral) or max_filters < 1:
        raise ValueError(f"max_filters must be a positive integer, got {max_filters!r}.")
    name, conv = convs[layer]
    weights = conv.weight.detach().float().cpu().numpy()  # (out, in, kh, kw) or (out, in, k)
    n_in = weights.shape[1]
    if channel is not None and (not isinstance(channel, Integral) or not 0 <= channel < n_in):
        raise ValueError(f"channel must be None or an integer in [0, {n_in - 1}] for {name} "
                         f"({n_in} input channels), got {channel!r}.")
    rgb = channel is None and n_in == 3 and weights.ndim == 4
    n = min(len(weights), max_filters)
    fig, axes = _grid(n, ncols, 1.0, figsize)
    for ax, kernel in zip(axes, weights[:n]):
        if weights.ndim == 3:
            ax.plot(kernel.T if channel is None else kernel[channel])
        elif rgb:
            ax.imshow(_scaled(kernel.transpose(1, 2, 0)), interpolation="nearest")
        else:
            ax.imshow(kernel.mean(axis=0) if channel is None else kernel[channel],
                      cmap="gray", interpolation="nearest")
    shown = ("RGB" if rgb else f"input channel {channel}" if channel is not None
             else "1 input channel" if n_in == 1
             else f"{n_in} input channels, one curve each" if weights.ndim == 3
             else f"mean of {n_in} input channels")
    size = "x".join(map(str, weights.shape[2:]))
    fig.suptitle(f"{name}: {n} of {len(weights)} filters, {size}, {shown}")
    return fig


def _names(labels, class_names, classes) -> list[str]:
    """Display names of labels: class_names maps labels, or lists names in classes_ order."""
    if class_names is None:
        return [str(label) for label in labels]
    if isinstance(class_names, Mapping):
        return [str(class_names.get(label, label)) for label in labels]
    class_names = list(class_names)
    if len(class_names) != len(classes):
        raise ValueError(f"class_names has {len(class_names)} names for {len(classes)} classes.")
    _check_known(labels, classes, "class_names (one name per class) cannot name them; a "
                 "mapping of label to name shows unnamed labels as they are")
    position = {label: i for i, label in enumerate(np.asarray(classes).tolist())}
    return [str(class_names[position[label]]) for label in np.asarray(labels).tolist()]


def _show_sample(ax, sample: np.ndarray):
    """Draw one sample of the canonical layout: (C, H, W) image or (C, L) signal."""
    if sample.ndim == 2:
        ax.plot(sample.T)
        return
    if sample.shape[0] >= 3:
        image = sample[:3].transpose(1, 2, 0)
        ax.imshow(image if image.dtype == np.uint8 else _scaled(image), interpolation="nearest")
    else:
        ax.imshow(sample[0], cmap="gray", interpolation="nearest")


def plot_predictions(estimator, X, y=None, *, n_images: int = 16, ncols: int = 8,
                     class_names: Mapping | Sequence[str] | None = None,
                     only_errors: bool = False, figsize: tuple[float, float] | None = None):
    """Show images with their predicted (and true) labels.

    Parameters
    ----------
    estimator : CNNClassifier or Pipeline
        Fitted classifier, or Pipeline ending in one.
    X : array-like
        Samples in any layout the estimator accepts. They are shown as the classifier receives
        them (after the Pipeline's transformers), each min-max scaled unless uint8.
    y : array-like of shape (n_samples,) or None, default=None
        True labels; titles then read "predicted / true" (on two lines when long), in red
        when wrong.
    n_images : int, default=16
        Show the first ``n_images`` samples (of the misclassified ones with ``only_errors``).
    ncols : int, default=8
        Columns of the grid.
    class_names : mapping or sequence of str or None, default=None
        Names to show: a mapping from label to name, or one name per entry of ``classes_``.
    only_errors : bool, default=False
        Show only misclassified samples (needs y).
    figsize : tuple of float or None, default=None
        Figure size in inches; None gives 1.5 inches per image.

    Returns
    -------
    fig : matplotlib.figure.Figure
        One axes per image (one empty axes with a note when no sample is left to show).
    """
    clf = _fitted_classifier(estimator, "plot_predictions")
    if not isinstance(n_images, Integral) or n_images < 1:
        raise ValueError(f"n_images must be a positive integer, got {n_images!r}.")
    if only_errors and y is None:
        raise ValueError("only_errors=True needs the true labels y.")
    y_pred = estimator.predict(X)
    X_clf = X
    if isinstance(estimator, Pipeline) and len(estimator) > 1:
        X_clf = estimator[:-1].transform(X)
    samples = canonical_view(np.asarray(X_clf), getattr(clf, "layout_", None))
    keep = np.arange(len(y_pred))
    if y is not None:
        y = np.asarray(y)
        if len(y) != len(y_pred):
            raise ValueError(f"X has {len(y_pred)} samples but y has {len(y)}.")
        if only_errors:
            keep = np.flatnonzero(y_pred != y)
    keep = keep[:n_images]
    if not len(keep):
        fig, ax = plt.subplots(figsize=figsize or (4, 1))
        ax.set_axis_off()
        ax.text(0.5, 0.5, "No misclassified sample.", ha="center", va="center")
        return fig
    predicted = _names(y_pred[keep], class_names, clf.classes_)
    true = None if y is None else _names(y[keep], class_names, clf.classes_)
    fig, axes = _grid(len(keep), ncols, 1.5, figsize)
    for k, (ax, i) in enumerate(zip(axes, keep)):
        _show_sample(ax, samples[i])
        if true is None:
            ax.set_title(predicted[k], fontsize=9)
        else:
            title = f"{predicted[k]} / {true[k]}"
            ax.set_title(title if len(title) <= 16 else title.replace(" / ", " /\n"),
                         fontsize=9, color="black" if y_pred[i] == y[i] else "red")
    fig.suptitle("predicted / true (red: wrong)" if y is not None else "predicted")
    return fig


def plot_confusion_matrix(estimator, X, y, *, normalize: str | None = None,
                          class_names: Mapping | Sequence[str] | None = None,
                          cmap: str = "Blues", figsize: tuple[float, float] | None = None):
    """Confusion matrix of the estimator's predictions on X, through scikit-learn's display.

    Parameters
    ----------
    estimator : CNNClassifier or Pipeline
        Fitted classifier, or Pipeline ending in one.
    X : array-like
        Samples in any layout the estimator accepts.
    y : array-like of shape (n_samples,)
        True labels, all among the classifier's ``classes_``.
    normalize : {"true", "pred", "all"} or None, default=None
        As in :func:`sklearn.metrics.confusion_matrix`: fractions of each true class, of each
        predicted class, or of all samples; None shows counts.
    class_names : mapping or sequence of str or None, default=None
        Tick labels: a mapping from label to name, or one name per entry of ``classes_``.
    cmap : str, default="Blues"
        matplotlib colormap.
    figsize : tuple of float or None, default=None
        Figure size in inches; None grows with the number of classes.

    Returns
    -------
    fig : matplotlib.figure.Figure
        The matrix (true labels in rows, predictions in columns) and its colorbar.
    """
    clf = _fitted_classifier(estimator, "plot_confusion_matrix")
    labels = np.asarray(clf.classes_)
    names = _names(labels, class_names, labels)
    plt.get_cmap(cmap)  # an unknown name raises here, before a figure is made
    y_pred = estimator.predict(X)
    _check_known(y, labels, "the confusion matrix (one row per class) would drop their samples")
    matrix = confusion_matrix(y, y_pred, labels=labels, normalize=normalize)
    size = max(4.0, 0.5 * len(labels) + 2)
    fig, ax = plt.subplots(figsize=figsize or (size + 1, size))
    crowded = sum(len(name) for name in names) > 4 * len(names) and len(names) > 4
    ConfusionMatrixDisplay(matrix, display_labels=names).plot(
        cmap=cmap, ax=ax, xticks_rotation=45 if crowded else "horizontal")
    fig.tight_layout()  # constrained layout clips rotated labels next to a colorbar
    return fig
