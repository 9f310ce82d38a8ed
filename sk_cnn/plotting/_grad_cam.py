"""Grad-CAM maps drawn over the images they explain."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from numbers import Integral, Real

import numpy as np
from sklearn.base import is_classifier

from ..inspection._grad_cam import explain
from ._base import _grid, plt
from ._images import _check_known, _names, _show_sample


def plot_grad_cam(estimator, X, y=None, *, n_images: int = 8, ncols: int = 4,
                  alpha: float = 0.5, target=None, layer: str | None = None,
                  class_names: Mapping | Sequence[str] | None = None, cmap: str = "jet",
                  figsize: tuple[float, float] | None = None):
    """Show images with their Grad-CAM heat maps and predicted (and true) labels.

    The maps are those of :func:`sk_cnn.inspection.grad_cam`: where the network finds the
    evidence for the predicted class (or for ``target``), scaled to [0, 1] per image.

    Parameters
    ----------
    estimator : CNNClassifier, CNNRegressor or Pipeline ending in one
        Fitted on images.
    X : array-like
        Images in any layout the estimator accepts; the first ``n_images`` are shown as the
        network receives them (after the Pipeline's transformers), each min-max scaled unless
        uint8.
    y : array-like of shape (n_samples,) or None, default=None
        True labels (or targets); titles then read "predicted: a" and "true: b", in red when
        a classifier is wrong.
    n_images : int, default=8
        Show the first ``n_images`` samples.
    ncols : int, default=4
        Columns of the grid.
    alpha : float, default=0.5
        Opacity of the heat map over the image, in [0, 1].
    target : None, "predicted", a label, or array-like, default=None
        The explained class (or regression target), as in :func:`~sk_cnn.inspection.grad_cam`;
        an array holds one label per image of X. A title says "map: c" when the map explains a
        class other than the predicted one. Of an array, the first ``n_images`` labels are
        used.
    layer : str or None, default=None
        The explained layer, as in :func:`~sk_cnn.inspection.grad_cam`; the figure's title
        names it.
    class_names : mapping or sequence of str or None, default=None
        Names to show: a mapping from label to name, or one name per entry of ``classes_``.
    cmap : str, default="jet"
        matplotlib colormap of the heat maps.
    figsize : tuple of float or None, default=None
        Figure size in inches; None gives 2 inches per image.

    Returns
    -------
    fig : matplotlib.figure.Figure
        One axes per image, the heat map drawn over it, and one colorbar.
    """
    if not isinstance(n_images, Integral) or n_images < 1:
        raise ValueError(f"n_images must be a positive integer, got {n_images!r}.")
    if not isinstance(alpha, Real) or not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be a number in [0, 1], got {alpha!r}.")
    plt.get_cmap(cmap)  # an unknown name raises here, before any work
    X = X[:n_images]
    if target is not None and np.ndim(target) == 1:
        target = np.asarray(target)[:len(X)]
    if y is not None:
        y = np.asarray(y)
        if len(y) < len(X):
            raise ValueError(f"y has {len(y)} labels for {len(X)} images.")
        y = y[:n_images]
    result = explain(estimator, X, target=target, layer=layer)
    clf = result.estimator
    classifier = is_classifier(clf)
    y_pred = estimator.predict(X)
    if classifier:
        if y is not None:
            _check_known(y, clf.classes_, "they cannot be named")
        explained = np.asarray(clf.classes_)[result.explained]
        predicted = _names(y_pred, class_names, clf.classes_)
        true = None if y is None else _names(y, class_names, clf.classes_)
        maps_of = _names(explained, class_names, clf.classes_)
    else:
        column = int(result.explained[0])
        y_pred = y_pred.reshape(len(y_pred), -1)[:, column]
        predicted = [f"{value:.3g}" for value in y_pred]
        true = None if y is None else [f"{v:.3g}" for v in y.reshape(len(y), -1)[:, column]]
    fig, axes = _grid(len(X), ncols, 2.0, figsize)
    for i, ax in enumerate(axes):
        _show_sample(ax, result.images[i])
        shown = ax.imshow(result.maps[i], cmap=cmap, alpha=alpha, vmin=0, vmax=1,
                          interpolation="nearest")
        lines = [f"predicted: {predicted[i]}"]
        if true is not None:
            lines.append(f"true: {true[i]}")
        if classifier and explained[i] != y_pred[i]:
            lines.append(f"map: {maps_of[i]}")
        wrong = classifier and y is not None and y_pred[i] != y[i]
        ax.set_title("\n".join(lines), fontsize=9, color="red" if wrong else "black")
    fig.colorbar(shown, ax=list(axes), shrink=0.8, label="Grad-CAM (0 to 1 per image)")
    what = "" if classifier else f" of target {column}"
    fig.suptitle(f"Grad-CAM{what} at {result.layer}"
                 + (" (red: wrong)" if classifier and y is not None else ""))
    return fig
