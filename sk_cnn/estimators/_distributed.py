"""``strategy="ddp"``: skorch's hooks when the estimators train in several processes.

Each process (rank) keeps the whole data and the plain network in ``module_`` (what
prediction, saving, export and inspection see); the training forward runs through a
``DistributedDataParallel`` wrapper over the same parameters, which averages the gradients.
The batches are those of one process, each split among the ranks
(:class:`~sk_cnn.training._distributed.DistributedBatchIterator`); every rank validates on
the whole validation split and keeps rank 0's history row, so that every decision (early
stopping, a non-finite loss) is the same on all ranks.
"""

from __future__ import annotations

import os

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from ..training._batching import BatchIterator, smallest_batch
from ..training._distributed import (
    DistributedBatchIterator,
    is_distributed,
    join_process_group,
    mean_over_ranks,
    share_of_batch,
    shared_seed,
    sync_buffers,
)


class DataParallelMixin:
    """What ``strategy="ddp"`` changes in sk_cnn's estimators (nothing with None)."""

    def _distributed(self) -> bool:
        return is_distributed(self.strategy) and dist.is_available() and dist.is_initialized()

    def _join_process_group(self) -> None:
        """Join torchrun's process group for a ``strategy="ddp"`` fit (see
        :func:`~sk_cnn.training._distributed.join_process_group`)."""
        if not is_distributed(self.strategy):
            return
        if self.iterator_train is not BatchIterator:
            raise ValueError(
                f"strategy='ddp' splits the batches of sk_cnn's BatchIterator among the "
                f"processes; iterator_train is {self.iterator_train!r}. Use "
                f"iterator_train=BatchIterator (the default), or strategy=None.")
        join_process_group(self.device)

    def _training_seed(self):
        """The ``random_state`` a training call seeds torch with: every rank uses rank 0's."""
        if not self._distributed():
            return self.random_state
        return shared_seed(self.random_state)

    def _separate_random_streams(self) -> None:
        """Under ``strategy="ddp"``, give every rank but 0 a random stream of its own for what
        training draws per batch (dropout, augmentation), so that the ranks' parts of a batch
        get independent draws; rank 0 keeps the stream one process would have. (What all
        ranks must share was drawn before the first training step: weights, validation split,
        alternating flips, airbench's whitening.)"""
        if not self._distributed() or dist.get_rank() == 0:
            return
        shared = int(torch.randint(2**31 - 1, ()).item())
        seed = int(np.random.SeedSequence([shared, dist.get_rank()]).generate_state(1)[0])
        torch.manual_seed(seed)
        generator = self.augmentation_[1] if self.augmentation_ is not None else None
        if generator is not None:
            generator.manual_seed(seed)

    def initialize_module(self):
        """Build the network; with pretrained ``weights``, the first process of each machine
        first, so that only it downloads them into torch's cache."""
        if not (self._distributed() and getattr(self, "weights", None) is not None):
            return super().initialize_module()
        first = int(os.environ.get("LOCAL_RANK", dist.get_rank())) == 0
        if not first:
            dist.barrier()
        try:
            return super().initialize_module()
        finally:
            if first:
                dist.barrier()

    def _training_network(self):
        """The ``DistributedDataParallel`` wrapper of ``module_`` (built again when the set of
        trainable parameters changes: unfreezing, airbench's whitening bias)."""
        if not self._distributed():
            return super()._training_network()
        trainable = tuple(p.requires_grad for p in self.module_.parameters())
        wrapper = getattr(self, "_data_parallel", None)
        if wrapper is None or wrapper[0].module is not self.module_ or wrapper[1] != trainable:
            device = torch.device(self.device)
            ddp = DistributedDataParallel(
                self.module_, device_ids=[device.index if device.index is not None
                                          else torch.cuda.current_device()]
                if device.type == "cuda" else None)
            self._data_parallel = wrapper = (ddp, trainable)
        return wrapper[0]

    def _release_training_network(self):
        self._data_parallel = None

    def _sync_after_training(self) -> None:
        """Under ``strategy="ddp"``, give every rank rank 0's buffers once the callbacks have
        ended training (weight averaging puts an average of each rank's in place)."""
        if self._distributed():
            sync_buffers(self.module_)

    def get_iterator(self, dataset, training=False):
        """For training under ``strategy="ddp"``, this rank's part of every batch."""
        if not (training and self._distributed()):
            return super().get_iterator(dataset, training=training)
        kwargs = self.get_params_for("iterator_train")
        kwargs.setdefault("batch_size", self.batch_size)
        kwargs.setdefault("shuffle", True)
        if kwargs["batch_size"] == -1:
            kwargs["batch_size"] = len(dataset)
        return DistributedBatchIterator(dataset, **kwargs)

    def get_split_datasets(self, X, y=None, **fit_params):
        """Refuse batches too small to give every rank a sample."""
        train, valid = super().get_split_datasets(X, y, **fit_params)
        if self._distributed():
            params = self.get_params_for("iterator_train")
            batch_size = params.get("batch_size", self.batch_size)
            batch_size = len(train) if batch_size == -1 else batch_size
            smallest = smallest_batch(len(train), batch_size, params.get("drop_last", False))
            world_size = dist.get_world_size()
            if smallest < world_size:
                raise ValueError(
                    f"strategy='ddp' splits every training batch among {world_size} processes, "
                    f"and a batch here holds {smallest} samples ({len(train)} training "
                    f"samples, batch_size={batch_size}, which counts the samples of all the "
                    f"processes). Give at least {world_size} samples per batch.")
        return train, valid

    def get_loss(self, y_pred, y_true, X=None, training=False):
        """A training loss scaled so that the ranks' averaged gradient is that of the whole
        batch (:func:`~sk_cnn.training._distributed.share_of_batch`)."""
        loss = super().get_loss(y_pred, y_true, X=X, training=training)
        iterator = getattr(self, "_epoch_iterator_", None)
        if not (training and isinstance(iterator, DistributedBatchIterator)):
            return loss
        factor = share_of_batch(self.criterion_, iterator._base.y, iterator.indices_,
                                iterator.batch_indices_, iterator.world_size)
        return loss * factor

    def train_step_single(self, batch, **fit_params):
        """The training step; under ``strategy="ddp"`` its loss is the whole batch's (the
        mean over the ranks), the same on every rank."""
        if self._distributed() and getattr(self, "_data_parallel", None) is None:
            self._separate_random_streams()  # the call's first step: callbacks drew alike
        step = super().train_step_single(batch, **fit_params)
        if self._distributed():
            step["loss"] = mean_over_ranks(step["loss"])
        return step

    def on_batch_end(self, net, batch=None, training=None, **kwargs):
        """Under ``strategy="ddp"``, record the size of the whole batch, so that the epoch's
        training loss weighs the batches as one process does."""
        iterator = getattr(self, "_epoch_iterator_", None)
        if training and isinstance(iterator, DistributedBatchIterator):
            self.history.record_batch("train_batch_size", len(iterator.batch_indices_))
        return super().on_batch_end(net, batch=batch, training=training, **kwargs)

    def run_single_epoch(self, iterator, training, prefix, step_fn, **fit_params):
        """After a training epoch under ``strategy="ddp"``, give every rank rank 0's buffers
        (each rank's last forward pass updated batch normalization's statistics on its part)."""
        super().run_single_epoch(iterator, training, prefix, step_fn, **fit_params)
        if training and self._distributed():
            sync_buffers(self.module_)
