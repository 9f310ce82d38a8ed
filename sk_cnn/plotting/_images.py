"""Pictures of what a fitted network learned and predicts: filters, predictions, confusions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from numbers import Integral

import numpy as np
from sklearn.base import is_classifier
from sklearn.metrics import ConfusionMatrixDisplay, confusion_matrix
from sklearn.pipeline import Pipeline
from torch import nn

from ..estimators._targets import unknown_labels
from ..preprocessing._input import canonical_view
from ._base import _fitted, _grid, _last_step, _scaled, plt


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


# What plot_confusion_matrix's title says the fractions are of.
_NORMALIZED_OVER = {None: "", "true": ", fractions of each true class",
                    "pred": ", fractions of each predicted class",
                    "all": ", fractions of all samples"}


def plot_confusion_matrix(estimator, X, y, *, normalize: str | None = None,
                          class_names: Mapping | Sequence[str] | None = None,
                          cmap: str = "Blues", figsize: tuple[float, float] | None = None,
                          title: str | None = None):
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
    title : str or None, default=None
        Title of the axes; None gives "Confusion matrix", with what the fractions are of when
        ``normalize`` is set, and the accuracy on these samples. "" draws no title.

    Returns
    -------
    fig : matplotlib.figure.Figure
        The matrix (true labels in rows, predictions in columns) and its colorbar. Counts are
        printed as integers, fractions (``normalize`` set) all with two decimals.
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
    # One format for every cell: scikit-learn's default (".2g") prints 1, 0.5 and 0.033 side
    # by side.
    ConfusionMatrixDisplay(matrix, display_labels=names).plot(
        cmap=cmap, ax=ax, xticks_rotation=45 if crowded else "horizontal",
        values_format=".2f" if normalize else "d")
    if title is None:
        accuracy = np.mean(np.asarray(y_pred) == np.asarray(y))
        title = f"Confusion matrix{_NORMALIZED_OVER[normalize]} (accuracy {accuracy:.3f})"
    ax.set_title(title)
    fig.tight_layout()  # constrained layout clips rotated labels next to a colorbar
    return fig
