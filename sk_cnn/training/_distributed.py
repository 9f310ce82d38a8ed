"""Data-parallel training in several processes (``strategy="ddp"``), through torch.distributed.

torchrun starts one process per device and describes the process group in the environment;
each process joins it, trains the same network on its part of every batch, and
``DistributedDataParallel`` averages the gradients. What the processes must agree on (the
order of the samples, the seed, the validation scores that decide early stopping) is sent
from the process of rank 0; only that process writes files.
"""

from __future__ import annotations

import os
from numbers import Integral

import torch
import torch.distributed as dist
from sklearn.utils import check_random_state
from skorch.callbacks import Callback

from ._batching import BatchIterator

#: The values of the estimators' ``strategy`` parameter besides None (one process).
STRATEGIES = ("ddp",)
#: What torchrun sets in the environment of each process it starts.
TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


def is_distributed(strategy) -> bool:
    """Whether a fit with this ``strategy`` trains in several processes."""
    return isinstance(strategy, str) and strategy == "ddp"


def is_rank_0(strategy=None) -> bool:
    """Whether this process writes the files of a fit with ``strategy``: always in one
    process; under ``"ddp"`` only the process of rank 0 (of the joined process group, else
    of torchrun's ``RANK``)."""
    if not is_distributed(strategy):
        return True
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank() == 0
    return os.environ.get("RANK", "0") == "0"


def join_process_group(device) -> None:
    """Join the process group that torchrun describes, unless this process already has.

    The backend is NCCL for a CUDA ``device``, else gloo. On CUDA, "cuda" becomes this
    process's GPU (``cuda:LOCAL_RANK``, or ``cuda:0`` when each process sees one GPU).

    Raises
    ------
    ValueError
        When the process was not started by torchrun (or torch has no torch.distributed),
        the fit runs in a joblib worker, or the CUDA devices do not fit the processes.
    """
    if not dist.is_available():
        raise ValueError("strategy='ddp' needs torch.distributed, which this build of torch "
                         "lacks. Use strategy=None.")
    if _in_parallel_worker():
        raise ValueError(
            "strategy='ddp' trains one model in all the processes that torchrun started, and "
            "this fit runs in a worker of joblib (GridSearchCV or cross_validate with n_jobs "
            "other than 1, say), which is none of them: it would wait for the others forever. "
            "Run the search with n_jobs=1 (each fit then uses all the processes), or set "
            "strategy=None to search in parallel in one process.")
    device = torch.device(device)
    if device.type == "cuda":
        _use_local_gpu(device)
    if dist.is_initialized():
        return
    missing = [name for name in TORCHRUN_VARIABLES if name not in os.environ]
    if missing:
        raise ValueError(
            f"strategy='ddp' trains in several processes that torchrun starts, and this one "
            f"was not ({', '.join(missing)} not set). Launch the script with `torchrun "
            f"--nproc_per_node=2 your_script.py` (one process per GPU, or per group of CPU "
            f"cores), or set strategy=None to train in this process.")
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")


def _in_parallel_worker() -> bool:
    """Whether this code runs in a joblib worker (a process or thread of ``n_jobs > 1``)."""
    try:
        from joblib.parallel import get_active_backend
        return get_active_backend()[0].nesting_level > 0
    except (ImportError, AttributeError, IndexError):
        return False


def _use_local_gpu(device: torch.device) -> None:
    count = torch.cuda.device_count()
    local = int(os.environ.get("LOCAL_RANK", torch.cuda.current_device() if count else 0))
    index = 0 if count == 1 else local
    if device.index is not None and device.index != index:
        raise ValueError(
            f"strategy='ddp' trains each process on its own GPU (cuda:{index} for local rank "
            f"{local}); device={str(device)!r} names another. Set device='cuda'.")
    if index >= count:
        raise ValueError(
            f"Local rank {local} has no GPU of its own ({count} visible): start at most "
            f"{count} processes per machine (torchrun --nproc_per_node={count}).")
    torch.cuda.set_device(index)


def _collective_device() -> torch.device:
    """Where the tensors of a collective must be (NCCL: this process's GPU)."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def broadcast_from_rank_0(tensor: torch.Tensor) -> torch.Tensor:
    """Rank 0's ``tensor`` (same shape and dtype on every rank), on ``tensor``'s device."""
    moved = tensor.to(_collective_device())
    dist.broadcast(moved, src=0)
    return moved.to(tensor.device)


def broadcast_object(value):
    """Rank 0's ``value`` (any picklable object; the others' are ignored)."""
    box = [value]
    dist.broadcast_object_list(box, src=0, device=_collective_device())
    return box[0]


def mean_over_ranks(value: torch.Tensor) -> torch.Tensor:
    """The mean over the ranks of a scalar tensor."""
    total = value.detach().to(_collective_device(), torch.float32).clone()
    dist.all_reduce(total)
    return (total / dist.get_world_size()).to(value.device)


def shared_seed(random_state) -> int:
    """One int seed for every rank: ``random_state`` as an int (a RandomState draws one, as
    :func:`~._seeding.seeded` does), or for None one drawn from torch's global generator; rank
    0's is sent to the others."""
    if random_state is None:
        seed = int(torch.randint(2**31 - 1, ()).item())
    elif isinstance(random_state, Integral):
        seed = int(random_state)
    else:
        seed = int(check_random_state(random_state).randint(2**31))
    return int(broadcast_from_rank_0(torch.tensor(seed, dtype=torch.int64)).item())


def sync_buffers(module: torch.nn.Module) -> None:
    """Give every rank rank 0's buffers (batch normalization's running statistics)."""
    for buffer in module.buffers():
        buffer.copy_(broadcast_from_rank_0(buffer))


def print_on_rank_0(*args, **kwargs) -> None:
    """``print``, in one process only (the estimators' log sink under ``strategy="ddp"``)."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0:
        print(*args, **kwargs)


def share_of_batch(criterion, y, local: torch.Tensor, whole: torch.Tensor,
                   world_size: int) -> float:
    """What to multiply a rank's loss (the criterion's mean over its part of a batch) by so
    that DistributedDataParallel's average of the ranks' gradients is the gradient of the
    mean over the whole batch, as in one process: ``world_size`` times the part's share of the
    normalizer (the samples, or their class weights for a weighted cross-entropy)."""
    if getattr(criterion, "reduction", "mean") == "sum":
        return float(world_size)
    weight = getattr(criterion, "weight", None)
    if (isinstance(criterion, torch.nn.CrossEntropyLoss) and weight is not None
            and y is not None and y.ndim == 1):
        part = weight[y[local].to(weight.device)].sum()
        total = weight[y[whole].to(weight.device)].sum()
        return float(world_size * part / total)
    return world_size * len(local) / len(whole)


class DistributedBatchIterator(BatchIterator):
    """:class:`BatchIterator`'s batches, this process's part of each.

    Every rank makes the same batches of the whole data (the order of rank 0, sent to the
    others each epoch) and takes its part of each: with N processes and ``batch_size=B``, the
    N parts of a batch together are the B samples that one process would train on. The parts
    differ in size by at most one sample.

    Parameters
    ----------
    dataset, batch_size, shuffle, drop_last, generator
        As for :class:`BatchIterator` (``batch_size``: the samples of a batch over all the
        processes).

    Attributes
    ----------
    indices_, sample_weight_
        As for :class:`BatchIterator`, of this process's part of the last batch.
    batch_indices_ : torch.Tensor or None
        The positions of all the samples of the last batch (every rank's part).
    """

    def __init__(self, dataset, batch_size=128, shuffle=False, drop_last=False, generator=None):
        super().__init__(dataset, batch_size=batch_size, shuffle=shuffle, drop_last=drop_last,
                         generator=generator)
        self.rank, self.world_size = dist.get_rank(), dist.get_world_size()
        self.batch_indices_ = None

    def _permutation(self, n):
        # Every rank draws (so that rank 0 draws as one process would), rank 0's order wins.
        return broadcast_from_rank_0(super()._permutation(n))

    def __iter__(self):
        for idx in self._batches():
            self.batch_indices_ = idx
            yield self._take(torch.tensor_split(idx, self.world_size)[self.rank])


class RankZeroHistory(Callback):
    """Give every rank rank 0's history row at the end of each epoch (losses and scores), so
    that early stopping, schedules and the callbacks after it decide alike on every rank."""

    def on_epoch_end(self, net, **kwargs):
        """Replace this epoch's row by rank 0's."""
        if not (dist.is_available() and dist.is_initialized()):
            return
        row = net.history[-1]
        sent = broadcast_object(dict(row))
        row.clear()
        row.update(sent)
