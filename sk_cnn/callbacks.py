"""skorch callbacks sk_cnn's estimators add: scoring, schedules, divergence stop, backup/restore."""

from __future__ import annotations

import hashlib
import json
import math
import os
from numbers import Real
from pathlib import Path

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
from skorch.history import History

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
    put back when training ends. A fit resumed from a :class:`TrainingBackup` gets the
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
                   {"step_size": max(1, net.max_epochs // 3)} if name == "StepLR" else {})
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
        """Unfreeze at the chosen epoch."""
        if len(net.history) == self.epoch:
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


class TrainingBackup(Callback):
    """Save the whole training state after every epoch; restore it when a fit is restarted.

    Like Keras' ``BackupAndRestore``: a fit interrupted by a crash or a kill resumes from the
    last completed epoch when it is started again with the same ``checkpoint_dir``; the backup
    is deleted once training completes. The state (weights, optimizer, history, random number
    generators) is written to a temporary file, then renamed, so a kill during the write
    leaves the previous backup intact. It is read back with ``torch.load(weights_only=True)``.

    Parameters
    ----------
    directory : str or Path
        Where the backup lives.
    """

    FILENAME = "sk_cnn_backup.pt"

    def __init__(self, directory):
        self.directory = directory

    @property
    def path(self) -> Path:
        """The backup file."""
        return Path(self.directory) / self.FILENAME

    def start(self, net, X, y):
        """Note where this training call starts, and a digest of its data (X, y tensors)."""
        self.call_start_ = len(net.history)
        self.data_digest_ = _data_digest(X, y)

    def restore(self, net) -> int:
        """Load the backup into an initialized net; return the number of epochs the
        interrupted call completed (after :meth:`start`)."""
        if not self.path.is_file():
            return 0
        state = torch.load(self.path, map_location=net.device, weights_only=True)
        if state["fingerprint"] != self._fingerprint(net):
            raise ValueError(
                f"The training backup {self.path} was written for another model or other data "
                f"(input shape, classes or parameters differ). Delete it, or use another "
                f"checkpoint_dir.")
        net.module_.load_state_dict(state["module"])
        net.optimizer_.load_state_dict(state["optimizer"])
        net.history = History(json.loads(state["history"]))
        net.validation_seed_ = int(state["validation_seed"])
        torch.set_rng_state(state["rng"].cpu())
        if state.get("cuda_rng") is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda_rng"]])
        generator = net.augmentation_[1] if net.augmentation_ is not None else None
        if generator is not None and state.get("augmentation_rng") is not None:
            generator.set_state(state["augmentation_rng"].cpu())
        self.restored_ = state  # the schedule is restored when the next epoch begins
        # Epochs of earlier calls (warm_start) are in the history too: count this call's.
        self.call_start_ = int(state.get("call_start", 0))
        return len(net.history) - self.call_start_

    def on_epoch_begin(self, net, **kwargs):
        """After a restore, put the learning-rate schedule back where the backup left it."""
        state = getattr(self, "restored_", None)
        self.restored_ = None
        if state is None or state["scheduler"] is None:
            return
        scheduler = _lr_scheduler(net)
        if scheduler is not None:
            scheduler.load_state_dict(state["scheduler"])
            net.optimizer_.load_state_dict(state["optimizer"])  # undo the scheduler's first step

    def on_epoch_end(self, net, **kwargs):
        """Write the state atomically."""
        generator = net.augmentation_[1] if net.augmentation_ is not None else None
        state = {
            "fingerprint": self._fingerprint(net),
            "call_start": self.call_start_,
            "module": net.module_.state_dict(),
            "optimizer": net.optimizer_.state_dict(),
            "history": json.dumps(net.history.to_list(), default=float),
            "validation_seed": net.validation_seed_,
            "rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
            "augmentation_rng": generator.get_state() if generator is not None else None,
            "scheduler": (_lr_scheduler(net).state_dict() if _lr_scheduler(net) is not None
                          else None),
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        torch.save(state, temporary)
        os.replace(temporary, self.path)

    def _fingerprint(self, net) -> str:
        """What must match for a backup to belong to this fit: the data, its classes, the
        parameters."""
        params = {k: _stable_repr(v) for k, v in sorted(net.get_params(deep=False).items())
                  if k not in ("callbacks", "verbose", "checkpoint_dir", "warm_start")}
        return json.dumps([list(net.input_shape_), [str(c) for c in net.classes_],
                           self.data_digest_, params])

    def discard(self):
        """Delete the backup (training completed)."""
        self.path.unlink(missing_ok=True)


def _lr_scheduler(net):
    """The torch scheduler of the net's LRScheduler callback, if any."""
    for _, callback in net.callbacks_:
        if isinstance(callback, LRScheduler) and getattr(callback, "lr_scheduler_", None):
            return callback.lr_scheduler_
    return None


def _stable_repr(value) -> str:
    """repr without memory addresses (classes and functions by name, a RandomState by type),
    so that the same settings give the same fingerprint in another process."""
    if isinstance(value, np.random.RandomState):
        return "RandomState"
    if isinstance(value, type) or (callable(value) and hasattr(value, "__qualname__")):
        return f"{getattr(value, '__module__', '')}.{value.__qualname__}"
    return repr(value)


def _data_digest(X, y) -> str:
    """A digest of the training data (tensors), in chunks to bound the memory."""
    digest = hashlib.blake2b(digest_size=16)
    for tensor in (X, y):
        tensor = torch.as_tensor(tensor)
        digest.update(f"{tuple(tensor.shape)}|{tensor.dtype}|".encode())
        for start in range(0, len(tensor), 4096):
            chunk = tensor[start:start + 4096].detach().cpu().contiguous()
            digest.update(chunk.view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def check_backup_directory(directory) -> None:
    """Create ``directory`` (a ``checkpoint_dir``) if needed; refuse one that cannot be written,
    before any training (the backup is first written after an epoch)."""
    path = Path(directory)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"checkpoint_dir={os.fspath(directory)!r} cannot be created "
                         f"({exc.strerror or exc}). Give a folder you can write to.") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise ValueError(f"checkpoint_dir={os.fspath(directory)!r} is not writable. Give a "
                         f"folder you can write to.")


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
        return RestartingSchedule(policy="StepLR", gamma=0.1)
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
