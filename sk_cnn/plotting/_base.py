"""What the plotting functions share: pyplot, the fitted estimator, a grid of images."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted


def _last_step(estimator):
    return estimator.steps[-1][1] if isinstance(estimator, Pipeline) else estimator


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
