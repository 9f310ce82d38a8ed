"""The curve of a learning-rate range test (:func:`sk_cnn.lr_find`)."""

from __future__ import annotations

import numpy as np

from ._base import plt


def plot_lr_find(result, *, ax=None, title: str | None = None,
                 figsize: tuple[float, float] | None = None):
    """Plot a range test's loss against the learning rate, and the suggested rate.

    Parameters
    ----------
    result : LRFinderResult
        What :func:`sk_cnn.lr_find` returned (``result.plot()`` calls this function).
    ax : matplotlib.axes.Axes or None, default=None
        Where to draw; None makes a new figure.
    title : str or None, default=None
        Title of the axes; None gives the number of steps and whether the loss diverged. ""
        draws no title.
    figsize : tuple of float or None, default=None
        Figure size in inches of a new figure; None gives 6 x 4.

    Returns
    -------
    fig : matplotlib.figure.Figure
        The training loss after each step (dots), its smoothed curve (line) and the
        suggestion (vertical line), on a logarithmic learning-rate axis.
    """
    lrs = getattr(result, "lrs", None)
    if lrs is None or not hasattr(result, "smoothed_losses"):
        raise TypeError(f"plot_lr_find needs the result of sk_cnn.lr_find, got "
                        f"{type(result).__name__}.")
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize or (6, 4), layout="constrained")
    else:
        fig = ax.figure
    ax.plot(lrs, result.losses, ".", color="C0", alpha=0.4, label="loss after the step")
    ax.plot(lrs, result.smoothed_losses, "-", color="C0", label="smoothed")
    ax.axvline(result.suggestion, color="C3", linestyle="--",
               label=f"suggestion ({result.rule}): {result.suggestion:.2g}")
    # A diverging tail would squash the rest of the curve: the y axis ends a little above the
    # loss of the first steps.
    losses, smoothed = np.asarray(result.losses), np.asarray(result.smoothed_losses)
    top = max(losses[0], smoothed[:int(np.argmin(smoothed)) + 1].max())
    low = min(losses.min(), smoothed.min())
    ax.set_ylim(low - 0.05 * (top - low), top + 0.25 * (top - low) + 1e-12)
    ax.set(xscale="log", xlabel="learning rate", ylabel="training loss")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    if title is None:
        title = (f"Learning-rate range test, {len(lrs)} steps"
                 + (" (the loss diverged)" if result.diverged else ""))
    if title:
        ax.set_title(title)
    return fig
