"""skorch callbacks sk_cnn's estimators add: scoring, schedules, divergence stop, averaging."""

from __future__ import annotations

import math
from numbers import Real

import numpy as np
import torch
from sklearn.metrics import r2_score
from skorch.callbacks import (
    Callback,
    EarlyStopping,
    EpochTimer,
    LRScheduler,
    PassthroughScoring,
    PrintLog,
    ProgressBar,
)

from .backup import TrainingBackup
from .fastnet import recipe_callbacks
from .optim import resolved_lr

LR_SCHEDULES = ("cosine", "onecycle", "step", "warmup_linear")


def encoded_accuracy(net, X, y):
    """Accuracy of the network's argmax against encoded targets (skorch scoring signature)."""
    y_pred = net.forward(X).argmax(dim=1).cpu().numpy()
    return float(np.mean(y_pred == np.asarray(y)))


def scaled_r2(net, X, y):
    """R^2 of the network's outputs against the standardized targets (skorch scoring signature).

    Equal to the R^2 on the original scale: R^2 does not change when a target and its
    predictions go through the same affine map. Several targets are averaged uniformly, as in
    scikit-learn's ``r2_score``.
    """
    y_pred = net.forward(X).cpu().numpy()
    return float(r2_score(np.asarray(y), y_pred))


class RestartingSchedule(LRScheduler):
    """skorch's ``LRScheduler``, run anew by every ``fit`` and ``partial_fit``.

    skorch continues a schedule across calls: it creates the torch scheduler at
    ``last_epoch=len(history) - 1``, from the learning rates the previous call left annealed,
    so a second ``partial_fit`` or a ``warm_start`` fit could train at a learning rate near 0.
    Here every call starts from the optimizer's configured learning rates and runs the whole
    schedule over its own ``max_epochs`` (as Keras' schedules do); the configured rates are
    put back when training ends. A fit resumed from a
    :class:`~sk_cnn.backup.TrainingBackup` gets the
    schedule's state back from the backup.

    Parameters
    ----------
    policy : str or type
        A ``torch.optim.lr_scheduler`` class or its name.
    step_every : {"epoch", "batch"}, default="epoch"
        When the schedule steps.
    **kwargs : dict
        Passed to ``policy``.
    """

    def on_train_begin(self, net, **kwargs):
        """Start the schedule from the configured learning rates."""
        self.policy_ = self._get_policy_cls()
        self.batch_idx_ = 0
        for group in net.optimizer_.param_groups:
            group["initial_lr"] = group["lr"]  # torch's schedulers start from this
        self.lr_scheduler_ = self._create(net, None)

    def _create(self, net, dataset_train):
        """The torch scheduler, or None to create it when the first epoch begins."""
        # Lengths that follow max_epochs are read now, not when the callback was built (a
        # value copied from get_params(deep=True) would otherwise pin an old max_epochs).
        name = getattr(self.policy_, "__name__", "")
        lengths = ({"T_max": net.max_epochs} if name == "CosineAnnealingLR" else
                   {"milestones": _thirds(net.max_epochs)} if name == "MultiStepLR" else {})
        return self._get_scheduler(net, self.policy_, last_epoch=-1,
                                   **{**lengths, **self.kwargs})

    def on_epoch_begin(self, net, dataset_train=None, **kwargs):
        """Create the schedule if it needed the training split."""
        if self.lr_scheduler_ is None:
            self.lr_scheduler_ = self._create(net, dataset_train)

    def _configured_lr(self, group):
        return group["initial_lr"]

    def on_train_end(self, net, **kwargs):
        """Put the configured learning rates back for the next call."""
        for group in net.optimizer_.param_groups:
            if "initial_lr" in group:
                group["lr"] = self._configured_lr(group)


class _StepsSchedule(RestartingSchedule):
    """A schedule that needs the total number of steps of the fit.

    The number of batches is known once the training split is made, so the schedule is
    created when the first epoch begins; subclasses say how from ``_policy_kwargs``.
    """

    def _policy_kwargs(self, net, steps):
        raise NotImplementedError

    def _create(self, net, dataset_train):
        if dataset_train is None:
            return None
        steps = net.max_epochs * len(net.get_iterator(dataset_train, training=True))
        return self._get_scheduler(net, self.policy_, last_epoch=-1,
                                   **self._policy_kwargs(net, steps))


class OneCycleSchedule(_StepsSchedule):
    """skorch's ``LRScheduler`` running ``OneCycleLR`` over ``max_epochs``, stepped every batch."""

    def __init__(self):
        super().__init__(policy=torch.optim.lr_scheduler.OneCycleLR, step_every="batch")

    def _policy_kwargs(self, net, steps):
        max_lr = [group["lr"] for group in net.optimizer_.param_groups]
        return {"max_lr": max_lr, "total_steps": steps}

    def _configured_lr(self, group):
        return group["max_lr"]  # OneCycleLR starts below the configured rate


class UnfreezeBackbone(Callback):
    """Make the whole backbone trainable when epoch ``epoch`` (1-based) begins.

    Parameters
    ----------
    epoch : int
        The first epoch that trains the whole network.
    """

    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_begin(self, net, **kwargs):
        """Unfreeze from the chosen epoch on (also when a resumed or continued fit starts
        after it: the network is built frozen)."""
        if len(net.history) >= self.epoch and net.module_.frozen:
            net.module_.unfreeze()


class StopOnNonFiniteLoss(Callback):
    """Stop training with a clear error as soon as a training loss is NaN or infinite."""

    def on_batch_end(self, net, batch=None, training=None, loss=None, **kwargs):
        """Raise ``FloatingPointError`` naming the epoch when the loss is not finite."""
        if loss is None or math.isfinite(float(loss)):
            return
        # The configured rate (group 0 may be one scaled from it, e.g. airbench's BatchNorm).
        lr = resolved_lr(net) if hasattr(net, "lr_schedule") else (
            net.optimizer_.param_groups[0]["lr"])
        raise FloatingPointError(
            f"Training diverged: the {'training' if training else 'validation'} loss became "
            f"{float(loss)} in epoch {len(net.history)}. Try a lower learning rate than "
            f"{lr:g} (for example lr={lr / 10:g}), or check the input for extreme values.")


class _WarmupLinear:
    """Learning-rate factor of step t: linear from ``start`` to 1 during the warm-up, then
    linear from 1 down to ``end`` (a picklable ``LambdaLR`` function)."""

    def __init__(self, total_steps, warmup=0.23, start=0.2, end=0.07):
        self.total_steps, self.warmup, self.start, self.end = total_steps, warmup, start, end

    def __call__(self, step):
        warmup_steps = int(self.total_steps * self.warmup)
        if step < warmup_steps:
            frac = step / warmup_steps
            return self.start + (1 - self.start) * frac
        frac = min(1.0, (step - warmup_steps) / max(1, self.total_steps - warmup_steps))
        return 1 + (self.end - 1) * frac


class WarmupLinearSchedule(_StepsSchedule):
    """Warm-up then linear decay over ``max_epochs``, stepped every batch (airbench94's schedule).

    The factor of the learning rate rises linearly from ``start`` to 1 during the first
    ``warmup`` fraction of the steps, then falls linearly to ``end`` at the last step.

    Parameters
    ----------
    warmup : float, default=0.23
        Fraction of the steps spent warming up.
    start : float, default=0.2
        Factor at the first step.
    end : float, default=0.07
        Factor at the last step.
    """

    def __init__(self, warmup=0.23, start=0.2, end=0.07):
        super().__init__(policy=torch.optim.lr_scheduler.LambdaLR, step_every="batch")
        self.warmup, self.start, self.end = warmup, start, end

    def _policy_kwargs(self, net, steps):
        return {"lr_lambda": _WarmupLinear(steps, self.warmup, self.start, self.end)}


class Lookahead(Callback):
    """Lookahead weight averaging with a rising decay, as in airbench94.

    Every ``every`` training steps the averaged weights move toward the network's,
    ``avg = decay * avg + (1 - decay) * weights``, and the network continues from the average
    (``weights = avg``). ``decay`` grows as ``decay_max * (step / total_steps) ** 3``, so early
    training is not slowed down. When training ends the network keeps the averaged weights.
    All floating-point entries of the state dict are averaged (BatchNorm statistics included).

    Parameters
    ----------
    every : int, default=5
        Steps between two updates.
    decay_max : float, default=0.95**5
        Decay at the last step.

    Attributes
    ----------
    average_ : dict of str to torch.Tensor
        The averaged state.
    step_ : int
        Training steps seen in this fit.
    total_steps_ : int
        Steps of the whole fit (``max_epochs`` times batches per epoch).
    """

    def __init__(self, every=5, decay_max=0.95**5):
        self.every = every
        self.decay_max = decay_max

    def on_train_begin(self, net, **kwargs):
        """Start the average at the current weights."""
        self.average_ = {k: v.detach().clone() for k, v in net.module_.state_dict().items()
                         if v.is_floating_point()}
        self.step_ = 0
        self.total_steps_ = None

    def on_epoch_begin(self, net, dataset_train=None, **kwargs):
        """Count the steps of the fit once the training split is known."""
        if self.total_steps_ is None:
            self.total_steps_ = net.max_epochs * len(net.get_iterator(dataset_train,
                                                                      training=True))

    @torch.no_grad()
    def update(self, net, decay):
        """Move the average toward the weights by ``1 - decay``, then copy it into the net."""
        state = net.module_.state_dict()
        for name, average in self.average_.items():
            average.lerp_(state[name], 1 - decay)
            state[name].copy_(average)

    def on_batch_end(self, net, training=False, **kwargs):
        """Update every ``every`` training steps."""
        if not training:
            return
        self.step_ += 1
        if self.step_ % self.every == 0:
            frac = min(1.0, self.step_ / max(1, self.total_steps_ or 1))
            self.update(net, self.decay_max * frac**3)

    def on_train_end(self, net, **kwargs):
        """Leave the network at the averaged weights."""
        self.update(net, 1.0)


def _thirds(epochs: int) -> list[int]:
    """The epochs (0-based) at which a step schedule decays: a third and two thirds in."""
    return sorted({max(1, round(epochs * k / 3)) for k in (1, 2)} - {epochs})


def lr_schedule_callback(net) -> LRScheduler | None:
    """The callback of ``net.lr_schedule`` (None for no schedule).

    Also called by ``get_params``/``set_params`` before validation: any value is tolerated.

    Parameters
    ----------
    net : CNNClassifier or CNNRegressor
        The estimator; its ``lr_schedule`` and ``max_epochs`` are read.

    Returns
    -------
    callback : skorch.callbacks.LRScheduler or None
        Cosine annealing or a step decay over ``max_epochs``, or a per-batch schedule
        (:class:`WarmupLinearSchedule`, one-cycle); None without a schedule.
    """
    schedule = net.lr_schedule if isinstance(net.lr_schedule, str) else None
    if schedule == "cosine":  # over max_epochs, read when training starts
        return RestartingSchedule(policy="CosineAnnealingLR")
    if schedule == "step":  # a tenth at each third of max_epochs
        return RestartingSchedule(policy="MultiStepLR", gamma=0.1)
    if schedule == "onecycle":
        return OneCycleSchedule()
    if schedule == "warmup_linear":
        return WarmupLinearSchedule()
    return None


def default_callbacks(net, scoring: list) -> list:
    """The named callbacks skorch builds for an sk_cnn estimator, in the order they run.

    Parameters
    ----------
    net : CNNClassifier or CNNRegressor
        The estimator; its parameters decide which callbacks take part.
    scoring : list of (str, Callback)
        The estimator's named scoring callbacks (accuracy or R^2).

    Returns
    -------
    callbacks : list of (str, Callback)
        Epoch timer, losses, ``scoring``, then as the parameters say: the learning-rate
        schedule, a progress bar, the recipe's callbacks, early stopping, unfreezing, the
        non-finite-loss stop, the log and the training backup.
    """
    callbacks = [
        ("epoch_timer", EpochTimer()),
        ("train_loss", PassthroughScoring(name="train_loss", on_train=True)),
        ("valid_loss", PassthroughScoring(name="valid_loss")),
        *scoring,
    ]
    schedule = lr_schedule_callback(net)
    if schedule is not None:
        callbacks.append(("lr_scheduler", schedule))
    if isinstance(net.verbose, Real) and net.verbose >= 2:
        # batch_size=-1 (one batch) would give the bar a negative total: count instead.
        callbacks.append(("progress_bar", ProgressBar(
            batches_per_epoch="count" if net.batch_size == -1 else "auto")))
    # Before early stopping: at the end of training the lookahead average is put in place
    # first, then early stopping may restore its best weights.
    callbacks.extend(recipe_callbacks(net))
    if net.early_stopping is not None:
        callbacks.append(("early_stopping", EarlyStopping(
            monitor="valid_loss", patience=net.early_stopping, load_best=True)))
    if net.unfreeze_at_epoch is not None:
        callbacks.append(("unfreeze", UnfreezeBackbone(net.unfreeze_at_epoch)))
    callbacks.append(("non_finite_loss", StopOnNonFiniteLoss()))
    callbacks.append(("print_log", PrintLog()))
    if net.checkpoint_dir is not None:  # last: saves the complete history row
        callbacks.append(("backup", TrainingBackup(net.checkpoint_dir)))
    return callbacks
