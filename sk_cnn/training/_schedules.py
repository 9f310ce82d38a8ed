"""Learning-rate schedules (``lr_schedule``) that every fit and partial_fit runs anew."""

from __future__ import annotations

import torch
from skorch.callbacks import LRScheduler

#: The values of ``lr_schedule`` besides None (a constant learning rate).
LR_SCHEDULES = ("cosine", "onecycle", "step", "warmup_linear")

class RestartingSchedule(LRScheduler):
    """skorch's ``LRScheduler``, run anew by every ``fit`` and ``partial_fit``.

    skorch continues a schedule across calls: it creates the torch scheduler at
    ``last_epoch=len(history) - 1``, from the learning rates the previous call left annealed,
    so a second ``partial_fit`` or a ``warm_start`` fit could train at a learning rate near 0.
    Here every call starts from the optimizer's configured learning rates and runs the whole
    schedule over its own ``max_epochs`` (as Keras' schedules do); the configured rates are
    put back when training ends. A fit resumed from a
    :class:`~sk_cnn.training._backup.TrainingBackup` gets the schedule's state back from the
    backup.

    Parameters
    ----------
    policy : type
        A ``torch.optim.lr_scheduler`` class.
    step_every : {"epoch", "batch"}, default="epoch"
        When the schedule steps.
    **kwargs : dict
        Passed to ``policy``.
    """

    def on_train_begin(self, net, **kwargs):
        """Start the schedule from the configured learning rates."""
        self.policy_ = self.policy
        self.batch_idx_ = 0
        for group in net.optimizer_.param_groups:
            group["initial_lr"] = group["lr"]  # torch's schedulers start from this
        self.lr_scheduler_ = self._create(net, None)

    def _create(self, net, dataset_train):
        """The torch scheduler, or None to create it when the first epoch begins."""
        # Lengths that follow max_epochs are read now, not when the callback was built (a
        # value copied from get_params(deep=True) would otherwise pin an old max_epochs).
        schedulers = torch.optim.lr_scheduler
        lengths = ({"T_max": net.max_epochs} if self.policy_ is schedulers.CosineAnnealingLR
                   else {"milestones": _thirds(net.max_epochs)}
                   if self.policy_ is schedulers.MultiStepLR else {})
        return self.policy_(net.optimizer_, last_epoch=-1, **{**lengths, **self.kwargs})

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
        return self.policy_(net.optimizer_, last_epoch=-1, **self._policy_kwargs(net, steps))


class OneCycleSchedule(_StepsSchedule):
    """skorch's ``LRScheduler`` running ``OneCycleLR`` over ``max_epochs``, stepped every batch."""

    def __init__(self):
        super().__init__(policy=torch.optim.lr_scheduler.OneCycleLR, step_every="batch")

    def _policy_kwargs(self, net, steps):
        max_lr = [group["lr"] for group in net.optimizer_.param_groups]
        return {"max_lr": max_lr, "total_steps": steps}

    def _configured_lr(self, group):
        return group["max_lr"]  # OneCycleLR starts below the configured rate


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


def _thirds(epochs: int) -> list[int]:
    """The epochs (0-based) at which a step schedule decays: a third and two thirds in."""
    return sorted({max(1, round(epochs * k / 3)) for k in (1, 2)} - {epochs})


def lr_schedule_callback(lr_schedule) -> LRScheduler | None:
    """The callback of an estimator's ``lr_schedule`` (None for no schedule).

    Also called when skorch lists the default callbacks (``get_params``) before the
    parameters are validated: any value is tolerated.

    Parameters
    ----------
    lr_schedule : {"cosine", "onecycle", "step", "warmup_linear"} or None
        The estimator's ``lr_schedule``.

    Returns
    -------
    callback : skorch.callbacks.LRScheduler or None
        Cosine annealing or a step decay over ``max_epochs`` (read when training begins), or
        a per-batch schedule (:class:`WarmupLinearSchedule`, one-cycle); None without a
        schedule.
    """
    schedule = lr_schedule if isinstance(lr_schedule, str) else None
    if schedule == "cosine":
        return RestartingSchedule(policy=torch.optim.lr_scheduler.CosineAnnealingLR)
    if schedule == "step":  # a tenth at each third of max_epochs
        return RestartingSchedule(policy=torch.optim.lr_scheduler.MultiStepLR, gamma=0.1)
    if schedule == "onecycle":
        return OneCycleSchedule()
    if schedule == "warmup_linear":
        return WarmupLinearSchedule()
    return None
