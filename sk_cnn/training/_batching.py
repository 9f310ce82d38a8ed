"""The in-memory dataset and the batch iterator of the fast data path.

Images stay as the caller gave them (uint8 stays uint8), shared with a tensor in the
channels-first view; every batch is sliced out of that one tensor, then converted to float32
``channels_last`` on the training device. No per-sample ``__getitem__`` and no collate: skorch's
per-sample path costs about as much as the network on small images (skorch issues #1100, #322).
"""

from __future__ import annotations

import ctypes
import functools
import math

import numpy as np
import torch
from torch.utils.data import Subset


def as_tensor(X: np.ndarray) -> torch.Tensor:
    """Share X's memory with a torch tensor (no copy; strided views stay views).

    A read-only X (a read-only memmap, as joblib hands large arrays to its worker processes)
    is shared too: sk_cnn never writes into input tensors.
    """
    if X.dtype.byteorder not in ("=", "|"):
        X = X.astype(X.dtype.newbyteorder("="))
    if any(stride < 0 for stride in X.strides):  # e.g. X[:, ::-1]; torch has no negative strides
        X = np.ascontiguousarray(X)
    if not X.flags.writeable:
        X = _writeable_alias(X)
    return torch.from_numpy(X)


class _Memory:
    """Another array's memory, described by numpy's array interface; keeps that array alive."""

    def __init__(self, interface, owner):
        self.__array_interface__ = interface
        self.owner = owner


def _writeable_alias(X: np.ndarray) -> np.ndarray:
    """A writeable array over a read-only X's memory (no copy).

    torch.from_numpy warns that a read-only array gives a writable tensor. Silencing that with
    warnings.catch_warnings is not thread-safe before Python 3.14 (threads that fit or predict
    at once could leave an "ignore" filter in the process-wide warnings.filters), and a copy
    would double the memory of a large memmap. The tensor is as writable either way.
    """
    interface = dict(X.__array_interface__)
    interface["data"] = (interface["data"][0], False)  # (address, read-only flag)
    return np.asarray(_Memory(interface, X))


def to_network_input(X: torch.Tensor, device) -> torch.Tensor:
    """Turn a raw batch into what the network eats: float32, on device, channels_last for images.

    uint8 pixels are scaled to [0, 1]; other dtypes are cast. The result never shares memory
    with a caller's float32 array in a way that matters, since nothing downstream writes in place.
    """
    X = X.to(device, non_blocking=True)
    scale = X.dtype == torch.uint8
    X = X.float()
    if scale:
        X = X / 255.0
    if X.ndim == 4:
        X = X.contiguous(memory_format=torch.channels_last)
    return X


class ImageDataset(torch.utils.data.Dataset):
    """In-memory images in the canonical layout, with optional integer targets.

    Parameters
    ----------
    X : torch.Tensor
        Images ``(N, C, H, W)`` or signals ``(N, C, L)``, of any dtype; usually a view of the
        caller's numpy array.
    y : torch.Tensor or None, default=None
        Encoded targets, one per sample.
    sample_weight : torch.Tensor or None, default=None
        Weights of the samples' losses, one per sample (the estimator's fit sets them).
    normalization : callable or None, default=None
        Applied to every batch read (:meth:`rows`): ImageNormalizer's statistics deferred
        to the batches of memory-mapped images
        (:class:`~sk_cnn.preprocessing._deferred.DeferredNormalization`).
    """

    def __init__(self, X, y=None, sample_weight=None, normalization=None):
        self.X = X if isinstance(X, torch.Tensor) else as_tensor(np.asarray(X))
        self.y = None if y is None else torch.as_tensor(y)
        self.sample_weight = sample_weight
        self.normalization = normalization
        if self.y is not None and len(self.y) != len(self.X):
            raise ValueError(f"X has {len(self.X)} samples but y has {len(self.y)}.")

    def __len__(self):
        return len(self.X)

    def rows(self, index) -> torch.Tensor:
        """The samples at ``index`` (a tensor of positions or a slice), normalized when the
        dataset has a ``normalization``."""
        if self.normalization is None:
            return self.X[index]
        return self.normalization.rows(self.X, index)

    def __getitem__(self, i):
        # Only used when a user plugs in torch's DataLoader; BatchIterator slices whole batches.
        X = self.X[i] if self.normalization is None else self.rows(slice(i, i + 1))[0]
        return X, (self.y[i] if self.y is not None else torch.zeros((), dtype=torch.long))


@functools.cache
def _malloc_trim():
    """glibc's ``malloc_trim``, or None where the C library has none (macOS, musl, Windows)."""
    try:
        return ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError, TypeError):
        return None


def release_heap_memory() -> None:
    """Give the heap memory that freed temporaries left back to the system (glibc only).

    glibc raises its mmap threshold to the size of large blocks once they are freed, so the
    batches' large temporaries then come from the heap, which keeps what they free: through an
    epoch of a large memory-mapped data set the process grew with every batch.
    ``malloc_trim(0)`` every few training batches keeps it bounded (figures:
    ``benchmarks/README.md``, "Data larger than memory").
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def _base_and_indices(dataset):
    """Resolve (nested) ``Subset`` objects to the ImageDataset and the indices they select."""
    indices = None
    while isinstance(dataset, Subset):
        sub = torch.as_tensor(np.asarray(dataset.indices), dtype=torch.long)
        indices = sub if indices is None else sub[indices]
        dataset = dataset.dataset
    if not isinstance(dataset, ImageDataset):
        raise TypeError(
            f"BatchIterator needs an sk_cnn ImageDataset (or a Subset of one), got "
            f"{type(dataset).__name__}. For other datasets set iterator_train and iterator_valid "
            f"to torch.utils.data.DataLoader."
        )
    if indices is None:
        indices = torch.arange(len(dataset))
    return dataset, indices


class BatchIterator:
    """Iterate over whole batches sliced from an in-memory :class:`ImageDataset`.

    A drop-in for ``torch.utils.data.DataLoader`` in skorch's ``iterator_train`` /
    ``iterator_valid`` slots; it gathers each batch with one indexing operation.

    Parameters
    ----------
    dataset : ImageDataset or torch.utils.data.Subset of one
        The data.
    batch_size : int, default=128
        Samples per batch. The last batch may be smaller; when it would hold less than half a
        batch (or a single sample) it joins the batch before it, since batch normalization
        learns noise from a few samples (``benchmarks/short_last_batch.py``).
    shuffle : bool, default=False
        Draw a new random order every time iteration starts (every epoch).
    drop_last : bool, default=False
        Skip the last, incomplete batch.
    generator : torch.Generator or None, default=None
        Source of the shuffling order, for reproducible runs.

    Attributes
    ----------
    indices_ : torch.Tensor or None
        Positions, in the underlying :class:`ImageDataset`, of the samples of the batch last
        yielded (what per-sample training state such as alternating flip needs); on the
        device of the dataset's images.
    sample_weight_ : torch.Tensor or None
        The weights of the samples of the batch last yielded (None for an unweighted dataset).
    """

    def __init__(self, dataset, batch_size=128, shuffle=False, drop_last=False, generator=None):
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.generator = generator
        self._base, indices = _base_and_indices(dataset)
        # On the data's device, so slicing a batch of data kept on a GPU needs no transfer.
        self._indices = indices.to(self._base.X.device)
        self.indices_ = self.sample_weight_ = None

    def __len__(self):
        return batch_count(len(self._indices), self.batch_size, self.drop_last)

    def _permutation(self, n: int) -> torch.Tensor:
        """The random order of an epoch's ``n`` samples."""
        return torch.randperm(n, generator=self.generator)

    def _batches(self):
        """The positions (in the underlying dataset) of each batch's samples, in order."""
        indices = self._indices
        if self.shuffle:
            indices = indices[self._permutation(len(indices)).to(indices.device)]
        n_batches = len(self)
        for batch in range(n_batches):
            start = batch * self.batch_size
            # The last batch takes a short remainder (see batch_size).
            stop = len(indices) if batch == n_batches - 1 and not self.drop_last else (
                start + self.batch_size)
            yield indices[start:stop]

    def _take(self, idx: torch.Tensor):
        """The batch of the samples at positions ``idx``."""
        y = self._base.y
        self.indices_ = idx
        weights = self._base.sample_weight
        self.sample_weight_ = None if weights is None else weights[idx]
        return self._base.rows(idx), (y[idx] if y is not None else None)

    def __iter__(self):
        for idx in self._batches():
            yield self._take(idx)


def batch_count(n_samples: int, batch_size: int, drop_last: bool = False) -> int:
    """How many batches :class:`BatchIterator` makes of ``n_samples`` samples."""
    full, rest = divmod(n_samples, batch_size)
    # A short last batch stays a batch of its own when it holds at least half a batch
    # (and two samples), or is the only one.
    own = rest >= max(2, math.ceil(batch_size / 2)) or (rest and not full)
    return full + bool(own and not drop_last)


def smallest_batch(n_samples: int, batch_size: int, drop_last: bool = False) -> int:
    """The size of the smallest batch :class:`BatchIterator` makes of ``n_samples`` samples
    (0 when it makes none)."""
    n_batches = batch_count(n_samples, batch_size, drop_last)
    if not n_batches:
        return 0
    last = batch_size if drop_last else n_samples - (n_batches - 1) * batch_size
    return min(batch_size, last)
