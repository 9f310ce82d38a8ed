"""Input layouts, the in-memory dataset and the batch iterator of the fast data path.

Images are kept as the caller gave them (uint8 stays uint8) and only viewed in the canonical
channels-first layout; every batch is sliced out of that one tensor, then converted to float32
``channels_last`` on the training device. No per-sample ``__getitem__`` and no collate.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch
from sklearn.model_selection import train_test_split
from sklearn.utils.validation import validate_data
from torch.utils.data import Subset

from .augment import split_augmentation

CHANNEL_OPTIONS = ("auto", "first", "last")
INPUT_TYPES = ("auto", "image", "signal")
# Channel counts that "auto" recognises: grayscale, RGB, RGBA.
_USUAL_CHANNELS = (1, 3, 4)


def resolve_channels(shape: tuple[int, ...], channels: str = "auto",
                     input_type: str = "auto") -> str | None:
    """Say where the channel axis of a batch is.

    Parameters
    ----------
    shape : tuple of int
        Shape of the whole array, samples first.
    channels : {"auto", "first", "last"}, default="auto"
        "first" means ``(N, C, H, W)`` images or ``(N, C, L)`` signals, "last" means
        ``(N, H, W, C)`` or ``(N, L, C)``. For images "auto" picks the axis of size 1, 3 or 4
        when exactly one of the two candidates has such a size; for signals it means "first".
    input_type : {"auto", "image", "signal"}, default="auto"
        "signal" reads 3-D arrays as signals with channels; "auto" reads 2-D arrays as
        signals and 3-D arrays as grayscale images.

    Returns
    -------
    layout : {"first", "last"} or None
        None when the array has no channel axis (``(N, L)`` signals, ``(N, H, W)`` images).
        This is the ``layout`` that :func:`canonical_view` takes.

    Raises
    ------
    ValueError
        When "auto" cannot tell the layout apart, or the dimensions do not fit ``input_type``.
    """
    ndim = len(shape)
    if input_type == "signal" and ndim not in (2, 3):
        raise ValueError(
            f"input_type='signal' takes 2-D (n_samples, length) or 3-D (n_samples, channels, "
            f"length) arrays; got {ndim} dimensions, shape {tuple(shape)}.")
    if input_type == "image" and ndim == 2:
        raise ValueError(
            f"input_type='image' needs images of 3 or 4 dimensions; got a 2-D array of shape "
            f"{tuple(shape)}. Turn flat rows of pixels into images with sk_cnn.ImageReshaper, "
            f"or set input_type='signal' for 1-D signals.")
    if ndim == 3 and input_type == "signal":
        return "last" if channels == "last" else "first"
    if ndim != 4:
        return None
    if channels != "auto":
        return channels
    first, last = shape[1] in _USUAL_CHANNELS, shape[3] in _USUAL_CHANNELS
    if first != last:
        return "first" if first else "last"
    raise ValueError(
        f"Cannot tell whether images of shape {tuple(shape[1:])} are channels-first (C, H, W) or "
        f"channels-last (H, W, C). Pass channels='first' or channels='last'."
    )


def canonical_view(X: np.ndarray, layout: str | None = None) -> np.ndarray:
    """View X in the network's layout without copying.

    ``(N, L)`` becomes ``(N, 1, L)`` (one-channel signals), ``(N, H, W)`` becomes
    ``(N, 1, H, W)``, ``(N, H, W, C)`` becomes ``(N, C, H, W)`` and ``(N, L, C)`` becomes
    ``(N, C, L)``; channels-first arrays are unchanged.

    Parameters
    ----------
    X : ndarray of ndim 2, 3 or 4
        The validated input.
    layout : {"first", "last", "auto"} or None, default=None
        Where the channel axis is, as :func:`resolve_channels` says. For 3-D X, "first" and
        "last" mean signals with channels and None (or "auto") grayscale images; for 4-D X,
        None and "auto" let :func:`resolve_channels` guess.

    Returns
    -------
    view : ndarray
        A view of X, channels-first.
    """
    if X.ndim == 2 or (X.ndim == 3 and layout not in ("first", "last")):
        return X[:, np.newaxis]
    if X.ndim == 3:
        return X.transpose(0, 2, 1) if layout == "last" else X
    if X.ndim == 4:
        if resolve_channels(X.shape, layout or "auto") == "last":
            return X.transpose(0, 3, 1, 2)
        return X
    raise ValueError(
        f"Expected images as a 2-D (n_samples, n_features: 1-D signals), 3-D (n_samples, height, "
        f"width), or 4-D (n_samples, height, width, channels) / (n_samples, channels, height, "
        f"width) array, or signals (n_samples, channels, length) with input_type='signal'; got "
        f"an array with {X.ndim} dimension(s) of shape {X.shape}. Flat rows of pixels can be "
        f"turned into images with sk_cnn.ImageReshaper."
    )


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
    """

    def __init__(self, X, y=None):
        self.X = X if isinstance(X, torch.Tensor) else as_tensor(np.asarray(X))
        self.y = None if y is None else torch.as_tensor(y)
        if self.y is not None and len(self.y) != len(self.X):
            raise ValueError(f"X has {len(self.X)} samples but y has {len(self.y)}.")

    def __len__(self):
        return len(self.X)

    def __getitem__(self, i):
        # Only used when a user plugs in torch's DataLoader; BatchIterator slices whole batches.
        return self.X[i], (self.y[i] if self.y is not None else torch.zeros((), dtype=torch.long))


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
        learns noise from a few samples: a ResNet-18 trained on 450 images in batches of 64
        scored 0.493 on CIFAR-10 classes 5-9 with a last batch of 2, 0.688 with it merged
        (benchmarks/short_last_batch.py).
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
        self.indices_ = None

    def __len__(self):
        full, rest = divmod(len(self._indices), self.batch_size)
        # A short last batch stays a batch of its own when it holds at least half a batch
        # (and two samples), or is the only one.
        own = rest >= max(2, math.ceil(self.batch_size / 2)) or (rest and not full)
        return full + bool(own and not self.drop_last)

    def __iter__(self):
        indices = self._indices
        if self.shuffle:
            order = torch.randperm(len(indices), generator=self.generator)
            indices = indices[order.to(indices.device)]
        X, y = self._base.X, self._base.y
        n_batches = len(self)
        for batch in range(n_batches):
            start = batch * self.batch_size
            # The last batch takes a short remainder (see batch_size).
            stop = len(indices) if batch == n_batches - 1 and not self.drop_last else (
                start + self.batch_size)
            idx = self.indices_ = indices[start:stop]
            yield X[idx], (y[idx] if y is not None else None)


def validate_images(estimator, X, y="no_validation", *, reset: bool, **check_params):
    """Validate image input with scikit-learn's ``validate_data`` and keep its augmentation mark.

    Parameters
    ----------
    estimator : estimator
        The caller; ``n_features_in_`` is set (``reset=True``) or checked on it.
    X : array-like of ndim 2, 3 or 4
        Images, signals, or flat rows. NaN, infinity and complex numbers are refused; dtypes
        stay as given (uint8 stays uint8) except object arrays, which become float64.
    y : array-like, default="no_validation"
        Targets, validated together with X when given.
    reset : bool
        True in ``fit``, False afterwards.
    **check_params : dict
        Passed on to ``validate_data``.

    Returns
    -------
    X or (X, y) : ndarray
        The validated data, as ``validate_data`` returns it.
    spec : AugmentationSpec or None
        The augmentation mark X carried, if any.
    """
    X, spec = split_augmentation(X)
    check_params = {"allow_nd": True, "dtype": "numeric", **check_params}
    try:
        out = validate_data(estimator, X, y, reset=reset, **check_params)
    except ValueError as exc:
        if not str(exc).startswith("Complex data not supported"):
            raise
        # scikit-learn's message goes on with the whole array (14 kB for 20 8x8 RGB images);
        # "from None" keeps it out of the traceback too.
        raise ValueError(_complex_data_message(estimator, X)) from None
    X_checked = out[0] if isinstance(out, tuple) else out
    if X_checked.ndim > 4:
        canonical_view(X_checked)  # raises the explanatory ValueError
    return out, spec


def _complex_data_message(estimator, X) -> str:
    # Starts as scikit-learn's message does, which its estimator checks look for.
    name = type(estimator).__name__
    if not np.iscomplexobj(X):
        return f"Complex data not supported: y holds complex numbers; {name} takes real targets."
    return (f"Complex data not supported: X holds complex numbers, and {name} takes real ones. "
            f"Give the real part (X.real), the magnitude (np.abs(X)), or both parts as "
            f"channels.")


def check_network_input(estimator, X: np.ndarray, fitted_dtype=None) -> None:
    """Refuse values the float32 network cannot hold; warn when pixels lost their scaling.

    Parameters
    ----------
    estimator : estimator
        The caller, named in the messages.
    X : ndarray
        Validated input.
    fitted_dtype : numpy.dtype or None, default=None
        dtype of the data seen in fit (None in fit itself). Only uint8 pixels are scaled to
        [0, 1]: after a fit on uint8, other dtypes with values above 1 (pixels such as 0-255
        given as int64 or float) reach the network up to 255 times too large, and get a
        ``UserWarning``. Floats already in [0, 1] are fine.
    """
    name = type(estimator).__name__
    scaled_in_fit = fitted_dtype is not None and np.dtype(fitted_dtype) == np.uint8
    wide_float = X.dtype.kind == "f" and X.dtype.itemsize > 4
    if not X.size or not (wide_float or (scaled_in_fit and X.dtype != np.uint8)):
        return
    high = X.max()  # one pass, for both checks
    if wide_float:
        limit = float(np.finfo(np.float32).max)
        if high > limit or X.min() < -limit:
            raise ValueError(
                f"X has values beyond float32's range (+-3.4e38), in which {name} computes; "
                f"rescale the data (e.g. with sklearn's StandardScaler or MinMaxScaler).")
    if scaled_in_fit and X.dtype != np.uint8 and high > 1:
        warnings.warn(
            f"{name} was fitted on uint8 pixels, which are scaled to [0, 1], but X is "
            f"{X.dtype} with values up to {high:g}, which are used as they are. Give X as "
            f"uint8 (as in fit) or divide it by 255.", UserWarning, stacklevel=3)


def validation_split(dataset, y, fraction, seed, classifier: bool):
    """Split ``fraction`` of ``dataset`` off for validation: ``(train, valid)`` subsets, or
    ``(dataset, None)`` when no split is asked for or none is possible.

    Parameters
    ----------
    dataset : torch.utils.data.Dataset
        The training data.
    y : array-like or torch.Tensor
        Its (encoded) targets.
    fraction : float or None
        Share held out (rounded up); a regressor keeps at least 2 samples on each side (R^2
        needs two), or does not split.
    seed : int or None
        Random state of the split.
    classifier : bool
        Stratify by ``y`` when every class has 2 samples and the split holds one per class.

    Returns
    -------
    train, valid : torch.utils.data.Subset, torch.utils.data.Subset or None
        The two parts, each in the original order.
    """
    if not fraction:
        return dataset, None
    indices = np.arange(len(dataset))
    n_valid = int(np.ceil(fraction * len(indices)))
    stratify = None
    if classifier:
        y_np = torch.as_tensor(y).cpu().numpy()
        counts = np.bincount(y_np)
        if counts[counts > 0].min() >= 2 and n_valid >= len(counts):
            stratify = y_np
    else:
        n_valid = max(n_valid, 2)
    if len(indices) - n_valid < (1 if classifier else 2):
        return dataset, None
    train, valid = train_test_split(indices, test_size=n_valid, stratify=stratify,
                                    random_state=seed)
    return Subset(dataset, np.sort(train)), Subset(dataset, np.sort(valid))
