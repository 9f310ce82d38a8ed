"""The learning-rate range test (Smith, 2017) as a skorch callback, and the rules that read a
learning rate off its curve.

:class:`LRRangeTest` sets the learning rate of every training batch on an exponential ramp
from ``start_lr`` to ``end_lr``, records the training loss after each step, and ends training
(by raising :class:`RangeTestDone`) when the ramp is done or the loss diverges. It runs inside
the estimator's own fit, so the batches, augmentation, mixed precision, network and optimizer
are the estimator's. :func:`smooth` smooths the curve and :func:`suggest_lr` reads a learning
rate off it.
"""

from __future__ import annotations

import math

import numpy as np
from skorch.callbacks import Callback

from ._optimizers import resolved_lr

#: The rules of :func:`suggest_lr`; the first is the default.
SUGGESTION_RULES = ("minimum", "steep", "valley")
#: Fewest batches a range test reads a curve from.
MIN_BATCHES = 5
#: Width of the window of :func:`smooth`, in decades of learning rate.
_WINDOW_DECADES = 0.5
#: fastai's moving average for the divergence check: this factor per step over a ramp of
#: ``_REFERENCE_STEPS`` steps (see :func:`smoothing_factor`).
_REFERENCE_BETA, _REFERENCE_STEPS = 0.98, 100


class RangeTestDone(Exception):
    """Raised by :class:`LRRangeTest` to end training: the ramp is done or the loss diverged."""


def smoothing_factor(n_steps: int) -> float:
    """The factor of the moving average that the divergence check reads, for ``n_steps`` steps.

    fastai's 0.98 for 100 steps; a ramp of fewer steps over the same learning rates averages
    over as many decades of learning rate (``0.98 ** (100 / n_steps)``), not over as many
    batches, which would smear a short curve over most of its range.
    """
    return _REFERENCE_BETA ** (_REFERENCE_STEPS / max(n_steps, 1))


def smooth(lrs, losses) -> np.ndarray:
    """The losses smoothed without lag: a Savitzky-Golay filter (local straight lines) over
    about half a decade of learning rate, at least 3 points.

    A moving average of the past (fastai's) lags behind the curve by many steps, which moves
    what a rule reads off it towards larger learning rates, by an amount that depends on the
    number of steps; a centred window does not.

    Parameters
    ----------
    lrs : array-like of shape (n,)
        Geometrically increasing learning rates.
    losses : array-like of shape (n,)
        The loss at each.

    Returns
    -------
    smoothed : ndarray of shape (n,)
    """
    from scipy.signal import savgol_filter

    losses = np.asarray(losses, dtype=float)
    n = len(losses)
    if n < 3:
        return losses.copy()
    steps_per_decade = 1 / np.log10(lrs[1] / lrs[0])
    window = max(3, int(round(_WINDOW_DECADES * steps_per_decade)) | 1)
    window = min(window, n if n % 2 else n - 1)
    return savgol_filter(losses, window, 1, mode="interp")


def _minimum(lrs, losses):
    # The lowest point, refined between the grid's points by the parabola through it and its
    # neighbours (in log learning rate): a short ramp's steps are up to 0.4 decades apart.
    i = int(np.argmin(losses))
    if not 0 < i < len(losses) - 1:
        return lrs[i]
    before, at, after = losses[i - 1:i + 2]
    curvature = before - 2 * at + after
    offset = 0.5 * (before - after) / curvature if curvature > 0 else 0.0
    return lrs[i] * (lrs[1] / lrs[0]) ** offset


def _steep(lrs, losses):
    # Where the loss falls fastest per decade of learning rate, up to its minimum.
    stop = int(np.argmin(losses)) + 1
    if stop < 2:
        return lrs[0]
    slopes = np.diff(losses[:stop]) / np.diff(np.log10(lrs[:stop]))
    return lrs[int(np.argmin(slopes))]


def _valley(lrs, losses):
    # fastai's "valley": the longest stretch over which the loss keeps falling (longest
    # decreasing subsequence), then a point two thirds of the way down it.
    n = len(losses)
    lengths = [1] * n
    start = end = 0
    for i in range(1, n):
        for j in range(i):
            if losses[i] < losses[j] and lengths[i] < lengths[j] + 1:
                lengths[i] = lengths[j] + 1
            if lengths[end] < lengths[i]:
                end = i
                start = end - lengths[end]
    third = (end - start) / 3
    return lrs[start + int(third) + int(third / 2)]


_RULES = {"minimum": _minimum, "steep": _steep, "valley": _valley}


def suggest_lr(lrs, smoothed_losses, rule: str = "minimum") -> float:
    """A learning rate read off a range test's smoothed curve.

    Parameters
    ----------
    lrs : array-like of shape (n,)
        The geometrically increasing learning rates of the test.
    smoothed_losses : array-like of shape (n,)
        The smoothed loss after a step at each.
    rule : {"minimum", "steep", "valley"}, default="minimum"
        ``"minimum"``: the learning rate of the lowest loss (interpolated between steps);
        ``"steep"``: where the loss falls fastest per decade, up to its minimum;
        ``"valley"``: two thirds of the way down the longest stretch of falling loss
        (fastai's default rule).

    Returns
    -------
    lr : float
    """
    lrs = np.asarray(lrs, dtype=float)
    return float(_RULES[rule](lrs, np.asarray(smoothed_losses, dtype=float)))


class LRRangeTest(Callback):
    """Exponentially increasing learning rate per training batch; records the losses.

    Batch ``i`` of ``n`` (``num_iter``, or the batches of one epoch when fewer) trains at
    ``start_lr * (end_lr / start_lr) ** (i / (n - 2))``; the curve pairs each learning rate
    with the training loss of the next batch, the first loss its step can change (on a batch
    the network has not trained on yet). Every parameter group keeps its ratio to the
    estimator's learning rate (a backbone at ``backbone_lr_factor`` times it, airbench's
    BatchNorm groups, Muon's filters), so the ramp is in units of ``lr``. Training ends, by
    :class:`RangeTestDone`, after the ``n``-th batch or as soon as a loss is not finite or
    the loss, averaged over the past few steps, exceeds ``stop_factor`` times its lowest
    average so far.

    Parameters
    ----------
    start_lr, end_lr : float
        The ends of the ramp.
    num_iter : int
        Batches to run at most.
    stop_factor : float or None, default=4.0
        Divergence threshold; None runs the whole ramp (a non-finite loss still stops it).

    Attributes
    ----------
    lrs_, losses_ : list of float
        The curve: each learning rate and the training loss after a step at it.
    initial_loss_ : float or None
        The loss of the first batch, before any step.
    n_batches_ : int
        Batches the test runs unless it stops early.
    diverged_ : bool
        Whether the test stopped on divergence.
    """

    def __init__(self, start_lr: float, end_lr: float, num_iter: int,
                 stop_factor: float | None = 4.0):
        self.start_lr = start_lr
        self.end_lr = end_lr
        self.num_iter = num_iter
        self.stop_factor = stop_factor

    def on_train_begin(self, net, **kwargs):
        """Remember each parameter group's learning rate relative to the estimator's."""
        reference = net.get_params_for("optimizer").get("lr")
        if reference is None:
            reference = resolved_lr(net.optimizer, net.lr)
        self.scales_ = [group["lr"] / reference for group in net.optimizer_.param_groups]
        self.lrs_, self.losses_, self.initial_loss_ = [], [], None
        self.diverged_ = False
        self.n_batches_ = None

    def on_epoch_begin(self, net, dataset_train=None, **kwargs):
        """Fix the ramp's length: ``num_iter`` batches, at most one epoch's."""
        batches = len(net.get_iterator(dataset_train, training=True))
        self.n_batches_ = min(self.num_iter, batches)
        if self.n_batches_ < MIN_BATCHES:
            raise ValueError(
                f"One epoch of {len(dataset_train)} samples gives {batches} training "
                f"batch(es) (batch_size={net.batch_size}), and the range test needs at least "
                f"{MIN_BATCHES}. Give more samples" + (
                    f" or num_iter >= {MIN_BATCHES}" if self.num_iter < MIN_BATCHES else "")
                + "; a smaller batch_size finds the rate for that batch size.")
        self._beta = smoothing_factor(self.n_batches_ - 1)
        self._average, self._best, self._batches_done = 0.0, math.inf, 0

    def on_batch_begin(self, net, batch=None, training=False, **kwargs):
        """Set this step's learning rate in every parameter group."""
        if not training:
            return
        steps = self.n_batches_ - 1  # the last batch only measures the last step
        fraction = min(self._batches_done, steps - 1) / (steps - 1)
        lr = self.start_lr * (self.end_lr / self.start_lr) ** fraction
        for group, scale in zip(net.optimizer_.param_groups, self.scales_, strict=True):
            group["lr"] = lr * scale
        self._lr = lr

    def on_batch_end(self, net, batch=None, training=False, loss=None, **kwargs):
        """Record the loss as the previous step's; stop when done or diverged."""
        if not training:
            return
        loss, self._batches_done = float(loss), self._batches_done + 1
        if not math.isfinite(loss):
            self.diverged_ = True
            raise RangeTestDone
        if self.initial_loss_ is None:
            self.initial_loss_ = loss
        else:
            self.lrs_.append(self._previous_lr)
            self.losses_.append(loss)
            self._average = self._beta * self._average + (1 - self._beta) * loss
            average = self._average / (1 - self._beta ** len(self.losses_))
            self._best = min(self._best, average)
            if (self.stop_factor is not None and len(self.losses_) > 1
                    and average > self.stop_factor * self._best):
                self.diverged_ = True
                raise RangeTestDone
        self._previous_lr = self._lr
        if self._batches_done >= self.n_batches_:
            raise RangeTestDone
