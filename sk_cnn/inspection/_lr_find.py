"""The learning-rate finder: Smith's range test on a copy of an estimator or a Pipeline."""

from __future__ import annotations

from dataclasses import dataclass, field
from numbers import Integral, Real

import numpy as np
from sklearn.base import clone
from sklearn.pipeline import Pipeline

from ..estimators import CNNClassifier, CNNRegressor
from ..training._lr_finder import (
    MIN_BATCHES,
    SUGGESTION_RULES,
    LRRangeTest,
    RangeTestDone,
    smooth,
    suggest_lr,
)


@dataclass(frozen=True)
class LRFinderResult:
    """The curve of a learning-rate range test and the learning rate read off it.

    Attributes
    ----------
    lrs : ndarray of shape (n_steps,)
        The learning rate of each step, increasing geometrically (in units of the estimator's
        ``lr``: parameter groups at other rates kept their ratio to it).
    losses : ndarray of shape (n_steps,)
        The training loss after each step (of the next batch, which the network has not
        trained on yet).
    smoothed_losses : ndarray of shape (n_steps,)
        ``losses`` smoothed over about half a decade of learning rate, without lag: what the
        rules read.
    suggestion : float
        The learning rate ``rule`` reads off the curve.
    rule : str
        The rule that gave ``suggestion``.
    suggestions : dict of str to float
        What every rule (``"minimum"``, ``"steep"``, ``"valley"``) reads off the curve.
    diverged : bool
        Whether the test stopped early because the loss diverged.
    """

    lrs: np.ndarray
    losses: np.ndarray
    smoothed_losses: np.ndarray
    suggestion: float
    rule: str
    suggestions: dict = field(default_factory=dict)
    diverged: bool = False

    def plot(self, ax=None, **kwargs):
        """Plot the curve and the suggestion (:func:`sk_cnn.plotting.plot_lr_find`; needs
        matplotlib).

        Parameters
        ----------
        ax : matplotlib.axes.Axes or None, default=None
            Where to draw; None makes a new figure.
        **kwargs : dict
            Passed to :func:`~sk_cnn.plotting.plot_lr_find`.

        Returns
        -------
        fig : matplotlib.figure.Figure
        """
        from ..plotting import plot_lr_find

        return plot_lr_find(self, ax=ax, **kwargs)


def _check_positive(value, name):
    if isinstance(value, bool) or not isinstance(value, Real) or not 0 < value < np.inf:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}.")
    return float(value)


def lr_find(estimator, X, y, *, start_lr: float = 1e-7, end_lr: float = 10.0,
            num_iter: int = 100, rule: str = "minimum",
            stop_factor: float | None = 4.0) -> LRFinderResult:
    """Find a learning rate by a range test (Smith, 2017), without changing the estimator.

    Trains a copy of the estimator (``sklearn.base.clone``; for a Pipeline, its earlier steps
    are cloned and fit-transform X first) for at most one epoch, raising the learning rate of
    every training batch geometrically from ``start_lr`` to ``end_lr``, and records the
    training loss after each step. Everything else is the estimator's: optimizer (momentum,
    weight decay, parameter groups such as ``backbone_lr_factor``'s, scaled alike), batches,
    augmentation, mixed precision, network and ``random_state``. The estimator's schedule,
    weight averaging, early stopping, checkpoints, validation split and its own ``callbacks``
    take no part: the test trains on all of X. It stops when the loss, averaged over the last
    few steps, exceeds ``stop_factor`` times its lowest average (or a loss is not finite).

    Parameters
    ----------
    estimator : CNNClassifier, CNNRegressor or Pipeline ending in one
        Fitted or not; it is left as it is.
    X : array-like
        Training data, as ``estimator.fit`` takes it.
    y : array-like
        Targets, as ``estimator.fit`` takes them.
    start_lr : float, default=1e-7
        The first batch's learning rate.
    end_lr : float, default=10.0
        The last batch's learning rate; greater than ``start_lr``.
    num_iter : int, default=100
        Batches to run, at least 5; capped at one epoch's batches (the ramp then spans the
        epoch).
    rule : {"minimum", "steep", "valley"}, default="minimum"
        How ``suggestion`` is read off the smoothed curve: ``"minimum"``, the learning rate
        of the lowest loss (Smith's largest rate that still trains); ``"steep"``, where the
        loss falls fastest per decade; ``"valley"``, two thirds of the way down the longest
        stretch of falling loss (fastai's default). Each rule's value is in
        ``suggestions``; how they compare with the benchmarked default learning rates is in
        ``benchmarks/README.md``.
    stop_factor : float or None, default=4.0
        Stop once the averaged loss exceeds this multiple of its lowest value; None runs the
        whole ramp.

    Returns
    -------
    result : LRFinderResult
        ``lrs``, ``losses``, ``smoothed_losses``, ``suggestion`` and ``plot()``.

    Raises
    ------
    TypeError
        If ``estimator`` is neither an sk_cnn estimator nor a Pipeline ending in one.
    ValueError
        If the arguments are invalid, one epoch of X gives fewer than 5 batches, or the loss
        is not finite from the first steps on.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sk_cnn import CNNClassifier, lr_find
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = CNNClassifier(conv_filters=(8, 16), verbose=0, random_state=0)
    >>> result = lr_find(clf, X.reshape(-1, 8, 8) / 16, y, num_iter=20)
    >>> bool(result.lrs[0] < result.suggestion < result.lrs[-1])
    True
    """
    steps = estimator.steps if isinstance(estimator, Pipeline) else None
    final = steps[-1][1] if steps else estimator
    if not isinstance(final, (CNNClassifier, CNNRegressor)):
        raise TypeError(
            f"lr_find needs a CNNClassifier or CNNRegressor, or a Pipeline ending in one; got "
            f"{type(final).__name__}.")
    start_lr = _check_positive(start_lr, "start_lr")
    end_lr = _check_positive(end_lr, "end_lr")
    if start_lr >= end_lr:
        raise ValueError(f"start_lr must be smaller than end_lr, got start_lr={start_lr:g} and "
                         f"end_lr={end_lr:g}.")
    if (isinstance(num_iter, bool) or not isinstance(num_iter, Integral)
            or num_iter < MIN_BATCHES):
        raise ValueError(f"num_iter must be an integer >= {MIN_BATCHES}, got {num_iter!r}.")
    if not isinstance(rule, str) or rule not in SUGGESTION_RULES:
        raise ValueError(f"rule must be one of {', '.join(map(repr, SUGGESTION_RULES))}; got "
                         f"{rule!r}.")
    if stop_factor is not None and (_check_positive(stop_factor, "stop_factor") <= 1):
        raise ValueError(f"stop_factor must be greater than 1 (or None), got {stop_factor!r}.")

    if steps is not None and len(steps) > 1:
        X = clone(estimator[:-1]).fit_transform(X, y)
    test = LRRangeTest(start_lr, end_lr, int(num_iter), stop_factor)
    net = clone(final).set_params(
        max_epochs=1, warm_start=False, lr_schedule=None, weight_averaging=None,
        early_stopping=None, checkpoint_dir=None, validation_fraction=None, train_split=None,
        verbose=0, callbacks=[("lr_range_test", test)],
        # The test handles a non-finite loss itself (it marks the end of the curve).
        callbacks__non_finite_loss=None)
    try:
        net.fit(X, y)
    except RangeTestDone:
        pass
    lrs, losses = np.asarray(test.lrs_, dtype=float), np.asarray(test.losses_, dtype=float)
    if len(losses) < 2:
        raise ValueError(
            f"The loss was not finite from the first batches on (learning rate "
            f"{start_lr:g}), so the range test has no curve. Check the data for extreme "
            f"values, or start from a smaller start_lr.")
    smoothed = smooth(lrs, losses)
    suggestions = {name: suggest_lr(lrs, smoothed, name) for name in SUGGESTION_RULES}
    return LRFinderResult(lrs=lrs, losses=losses, smoothed_losses=smoothed,
                          suggestion=suggestions[rule], rule=rule, suggestions=suggestions,
                          diverged=test.diverged_)
