"""The skorch callbacks of an sk_cnn estimator: scores, schedules, early stopping, backups and
the airbench recipe's, built from the estimator's callback parameters."""

from __future__ import annotations

import math
import os
from numbers import Real

import numpy as np
import torch
from sklearn.metrics import r2_score
from skorch.callbacks import (
    Callback,
    EarlyStopping,
    EpochTimer,
    PassthroughScoring,
    PrintLog,
    ProgressBar,
)

from ..networks._airbench import AirbenchNet
from ._backup import TrainingBackup
from ._batching import ImageDataset, to_network_input
from ._distributed import RankZeroHistory, is_distributed, is_rank_0, print_on_rank_0
from ._lookahead import Lookahead
from ._optimizers import resolved_lr
from ._schedules import lr_schedule_callback

#: Epochs during which the whitening layer's bias is trained (airbench94: 3).
WHITEN_BIAS_EPOCHS = 3
#: Training images whose patches give the whitening statistics (airbench94: 5000).
WHITENING_IMAGES = 5000


def encoded_accuracy(net, X, y):
    """Accuracy of the network's argmax against encoded targets (skorch scoring signature);
    for multi-label targets, the share of samples with every label right (sigmoid of each
    logit against the net's ``threshold``)."""
    logits = net.forward(X)
    y = np.asarray(y)
    if y.ndim == 2:
        y_pred = (torch.sigmoid(logits) >= net.threshold).cpu().numpy()
        return float(np.mean((y_pred == (y > 0.5)).all(axis=1)))
    return float(np.mean(logits.argmax(dim=1).cpu().numpy() == y))


def scaled_r2(net, X, y):
    """R^2 of the network's outputs against the standardized targets (skorch scoring signature).

    Equal to the R^2 on the original scale: R^2 does not change when a target and its
    predictions go through the same affine map. Several targets are averaged uniformly, as in
    scikit-learn's ``r2_score``.
    """
    y_pred = net.forward(X).cpu().numpy()
    return float(r2_score(np.asarray(y), y_pred))


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
        lr = resolved_lr(net.optimizer, net.lr)
        raise FloatingPointError(
            f"Training diverged: the {'training' if training else 'validation'} loss became "
            f"{float(loss)} in epoch {len(net.history)}. Try a lower learning rate than "
            f"{lr:g} (for example lr={lr / 10:g}), or check the input for extreme values.")


class WhiteningInit(Callback):
    """Initialize the whitening layer of an :class:`AirbenchNet` when training begins.

    The patches come from up to ``n_images`` training images drawn with torch's random
    generator, which ``CNNClassifier.fit`` seeds from ``random_state``. A network whose
    whitening is already fitted (``warm_start``, ``partial_fit``, a resumed fit) is left alone.
    Validation images held out by ``validation_fraction`` may be among the drawn images; the
    whitening uses no labels.

    Parameters
    ----------
    n_images : int, default=5000
        How many training images to use.
    """

    def __init__(self, n_images: int = WHITENING_IMAGES):
        self.n_images = n_images

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        """Whiten from a random subset of X unless already done."""
        module = net.module_
        if not isinstance(module, AirbenchNet) or bool(module.whitening_fitted):
            return
        index = torch.randperm(len(X))[:self.n_images].sort().values
        dataset = net.get_dataset(X)  # normalizes the images when the fit defers that
        images = dataset.rows(index) if isinstance(dataset, ImageDataset) else X[index]
        module.init_whitening(to_network_input(images, net.device))


class WhiteningBiasSchedule(Callback):
    """Train the whitening layer's bias only during the first ``epochs`` epochs (airbench).

    Parameters
    ----------
    epochs : int, default=3
        Epochs with a trainable whitening bias.
    """

    def __init__(self, epochs: int = WHITEN_BIAS_EPOCHS):
        self.epochs = epochs

    def on_epoch_begin(self, net, **kwargs):
        """Freeze or unfreeze the bias for this epoch (1-based ``len(net.history)``)."""
        module = net.module_
        if isinstance(module, AirbenchNet):
            module.whiten.bias.requires_grad_(len(net.history) <= self.epochs)


def build_callbacks(
    scoring: list,
    *,
    architecture: str,
    module,
    lr_schedule: str | None,
    weight_averaging: str | None,
    early_stopping: int | None,
    unfreeze_at_epoch: int | None,
    verbose: int,
    batch_size: int,
    checkpoint_dir: str | os.PathLike | None,
    strategy: str | None,
) -> list:
    """The named callbacks skorch runs for an sk_cnn estimator, in the order they run.

    Also called when skorch lists the default callbacks (``get_params``) before the
    parameters are validated: any value is tolerated.

    Parameters
    ----------
    scoring : list of (str, Callback)
        The estimator's named scoring callbacks (accuracy or R^2).
    architecture, module, lr_schedule, weight_averaging, early_stopping, unfreeze_at_epoch, \
verbose, batch_size, checkpoint_dir, strategy
        The estimator's parameters.

    Returns
    -------
    callbacks : list of (str, Callback)
        Epoch timer, losses, ``scoring``, (under ``strategy="ddp"``, rank 0's history row
        for every rank), then as the parameters say: the learning-rate
        schedule, a progress bar, the airbench network's whitening, lookahead, early
        stopping, unfreezing, the non-finite-loss stop, the log and the training backup.
    """
    callbacks = [
        ("epoch_timer", EpochTimer()),
        ("train_loss", PassthroughScoring(name="train_loss", on_train=True)),
        ("valid_loss", PassthroughScoring(name="valid_loss")),
        *scoring,
    ]
    distributed = is_distributed(strategy)
    if distributed:  # before anything that decides from the scores
        callbacks.append(("rank_0_history", RankZeroHistory()))
    schedule = lr_schedule_callback(lr_schedule)
    if schedule is not None:
        callbacks.append(("lr_scheduler", schedule))
    if isinstance(verbose, Real) and verbose >= 2 and is_rank_0(strategy):
        # batch_size=-1 (one batch) would give the bar a negative total: count instead.
        callbacks.append(("progress_bar", ProgressBar(
            batches_per_epoch="count" if batch_size == -1 else "auto")))
    if _chosen(architecture, "airbench") and module is None:
        callbacks += [("whitening_init", WhiteningInit()),
                      ("whitening_bias", WhiteningBiasSchedule())]
    # Before early stopping: at the end of training the lookahead average is put in place
    # first, then early stopping may restore its best weights.
    if _chosen(weight_averaging, "lookahead"):
        callbacks.append(("lookahead", Lookahead()))
    if early_stopping is not None:
        callbacks.append(("early_stopping", EarlyStopping(
            monitor="valid_loss", patience=early_stopping, load_best=True,
            sink=print_on_rank_0 if distributed and verbose else print)))
    if unfreeze_at_epoch is not None:
        callbacks.append(("unfreeze", UnfreezeBackbone(unfreeze_at_epoch)))
    callbacks.append(("non_finite_loss", StopOnNonFiniteLoss()))
    # skorch's PrintLog (and EarlyStopping) print to any sink but print even with verbose=0.
    callbacks.append(("print_log", PrintLog(sink=print_on_rank_0) if distributed and verbose
                      else PrintLog()))
    if checkpoint_dir is not None:  # last: saves the complete history row
        callbacks.append(("backup", TrainingBackup(checkpoint_dir)))
    return callbacks


def _chosen(setting, value: str) -> bool:
    """Whether a string parameter is ``value`` (False for any other type, arrays included)."""
    return isinstance(setting, str) and setting == value
