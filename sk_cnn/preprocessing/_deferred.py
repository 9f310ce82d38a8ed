"""How ImageNormalizer's statistics reach the estimator when the images stay on disk.

A float32 copy of a data set four times the size of its uint8 pixels is what out-of-core
training must avoid. ``ImageNormalizer.transform`` of a memory-mapped array (what
``ImageLoader(cache_dir=...)`` returns) therefore returns :class:`NormalizedImages`: the
memory map itself with a :class:`DeferredNormalization`. sk_cnn's augmenter passes it on (its
mark goes on the images inside), and sk_cnn's estimators unwrap it first
(:func:`take_normalization`) and normalize each batch as it is read, with the same float32
operations as the normalizer's, so the values are the same. Anything else that reads a
:class:`NormalizedImages` (``np.asarray``, scikit-learn's validation) gets the normalized array
in memory, as from an eager normalizer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DeferredNormalization:
    """The per-channel normalization of a batch of channels-first images (or signals).

    Parameters
    ----------
    mean : tuple of float
        float32 values subtracted from each channel (after ``scale``).
    std : tuple of float
        float32 values each channel is then divided by.
    scale : float
        Factor applied first: 1/255 (as float32) for uint8 pixels, else 1.
    dtype : {"float32", "float16"}
        dtype of the result, as :class:`~sk_cnn.ImageNormalizer`'s ``dtype``.
    """

    mean: tuple[float, ...]
    std: tuple[float, ...]
    scale: float
    dtype: str = "float32"

    def __call__(self, batch):
        """Normalize a channels-first torch batch ``(B, C, ...)`` on its device.

        The same float32 operations in the same order as ``ImageNormalizer.transform``
        (which computes a uint8 input's 256 values per channel the same way): identical values.
        """
        # Computed channels-last, where each operation runs over contiguous memory when the
        # images are stored so (ImageLoader's are): several times faster than strided.
        return self._channels_last(batch.movedim(1, -1)).movedim(-1, 1)

    def rows(self, X, index):
        """``self(X[index])`` for a channels-first tensor X, reading the rows cheaply.

        On the CPU the rows are gathered by numpy from X's channels-last memory (a memory
        map's rows are contiguous there; torch's indexing of the channels-first view was 5-30x
        slower), and the result has ``channels_last`` strides, as the network wants them.
        """
        import torch

        if X.device.type != "cpu":
            return self(X[index])
        if isinstance(index, torch.Tensor):
            index = index.numpy()
        base = X.movedim(1, -1).numpy()  # a view: the images as stored, channels last
        return self._channels_last(torch.from_numpy(base[index])).movedim(-1, 1)

    def _channels_last(self, batch):
        import torch

        mean = torch.tensor(self.mean, dtype=torch.float32, device=batch.device)
        std = torch.tensor(self.std, dtype=torch.float32, device=batch.device)
        values = batch.to(torch.float32, copy=True)  # the in-place steps never touch the input
        if self.scale != 1:
            values.mul_(torch.tensor(self.scale, dtype=torch.float32, device=batch.device))
        values.sub_(mean).div_(std)
        return values.to(torch.float16) if self.dtype == "float16" else values


class NormalizedImages:
    """Images and the normalization still to apply to them, batch by batch.

    What ``ImageNormalizer.transform`` returns for a memory-mapped array. sk_cnn's
    estimators train on (and predict from) :attr:`images` and normalize each batch;
    ``np.asarray`` (and so any other consumer) gets the whole normalized array in memory.

    Parameters
    ----------
    images : ndarray
        The validated, unnormalized images (a view of the memory map: no copy).
    normalization : DeferredNormalization
        What to apply to their batches.
    normalize : callable
        ``normalize(array)`` returns the normalized array in memory (the normalizer's eager
        transform), for ``np.asarray`` and row selection.
    """

    def __init__(self, images: np.ndarray, normalization: DeferredNormalization, normalize):
        self.images = images
        self.normalization = normalization
        self._normalize = normalize

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of the images."""
        return self.images.shape

    @property
    def ndim(self) -> int:
        """Number of dimensions of the images."""
        return self.images.ndim

    @property
    def dtype(self) -> np.dtype:
        """dtype of the normalized values."""
        return np.dtype(self.normalization.dtype)

    def __len__(self) -> int:
        return len(self.images)

    def __array__(self, dtype=None, copy=None):
        out = self._normalize(self.images)
        return out if dtype is None else out.astype(dtype, copy=False)

    def __getitem__(self, key):
        if isinstance(key, (int, np.integer)):
            return self._normalize(self.images[key:key + 1 or None])[0]
        return self._normalize(np.asarray(self.images[key]))

    def with_images(self, images: np.ndarray) -> NormalizedImages:
        """The same normalization over other images (e.g. marked for augmentation)."""
        return NormalizedImages(images, self.normalization, self._normalize)

    def __repr__(self) -> str:
        return (f"NormalizedImages(shape={self.shape}, images dtype={self.images.dtype}, "
                f"normalized dtype={self.dtype})")


def take_normalization(X):
    """Split what an estimator receives into the images and the normalization still to apply.

    Parameters
    ----------
    X : array-like or NormalizedImages
        What ``fit``, ``predict`` or ``transform`` received.

    Returns
    -------
    X : array-like
        The images (:attr:`NormalizedImages.images`, or X itself).
    normalization : DeferredNormalization or None
        None when X needs no normalization of its batches.
    """
    if isinstance(X, NormalizedImages):
        return X.images, X.normalization
    return X, None
