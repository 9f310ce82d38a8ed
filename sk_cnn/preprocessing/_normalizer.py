"""ImageNormalizer: per-channel standardization with statistics learned in fit (or given)."""

from __future__ import annotations

from numbers import Real

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import check_is_fitted

from ._augmentation import keep_mark
from ._deferred import DeferredNormalization, NormalizedImages
from ._input import (
    CHANNEL_OPTIONS,
    INPUT_TYPES,
    canonical_view,
    check_network_input,
    resolve_channels,
    validate_images,
)
from ._set_output import ArrayOutputMixin

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# Images per chunk when computing statistics or normalizing: bounds the float temporaries.
_CHUNK = 4096
# Values per chunk when computing channel statistics (8 MiB of float64).
_STATS_VALUES = 2**20


def _channel_values(values, n_channels, name):
    values = np.atleast_1d(np.asarray(values, dtype=np.float64))
    if values.ndim != 1 or len(values) not in (1, n_channels):
        raise ValueError(
            f"{name} must be one number or one per channel ({n_channels}); got {values.tolist()}.")
    if not np.isfinite(values).all():
        raise ValueError(f"{name} must be finite; got {values.tolist()}.")
    return np.broadcast_to(values, (n_channels,)).copy()


def _channel_stats(view):
    """Per-channel mean and std of a canonical view, chunked, with uint8 scaled to [0, 1].

    Each chunk becomes a (values, channels) float64 matrix, summed by matrix-vector products
    (15x faster than strided reductions on channels-last CIFAR-10, benchmarks/preprocessing.py).
    Other than uint8 values (whose float64 sums are exact) are first shifted by a rounded
    estimate of the mean, so that the variance (mean of squares minus squared mean) does not
    cancel away when the mean is large against the spread. The shift is a pass more over each
    chunk: skipping it for uint8 keeps CIFAR-10's statistics at about 0.2 s instead of 0.5 s.
    """
    scale = 1 / 255 if view.dtype == np.uint8 else 1.0
    n_channels = view.shape[1]
    step = max(1, _STATS_VALUES // max(1, view[0].size))
    total = np.zeros(n_channels)
    total_sq = np.zeros(n_channels)
    shift = np.zeros(n_channels) if view.dtype == np.uint8 else None
    for start in range(0, len(view), step):
        values = np.moveaxis(view[start:start + step], 1, -1).reshape(-1, n_channels)
        values = values.astype(np.float64)
        if shift is None:
            shift = np.round(values.mean(axis=0))
        if shift.any():
            values -= shift
        ones = np.ones(len(values))
        total += ones @ values
        total_sq += ones @ np.square(values)
    count = view.size / n_channels
    mean = total / count
    var = np.maximum(total_sq / count - mean**2, 0.0)
    return (shift + mean) * scale, np.sqrt(var) * scale


class ImageNormalizer(ArrayOutputMixin, TransformerMixin, BaseEstimator):
    """Standardize each channel with a mean and standard deviation learned in fit (or given).

    uint8 images are first scaled to [0, 1], so statistics and given values are on that scale.
    The statistics are fitted attributes, so they travel with a pickled pipeline.

    Parameters
    ----------
    mean : None, float, sequence of float or "imagenet", default=None
        Per-channel mean to subtract. None learns it from the training data; "imagenet" uses
        (0.485, 0.456, 0.406). Given values must be finite.
    std : None, float, sequence of float or "imagenet", default=None
        Per-channel standard deviation to divide by. None learns it (or, with
        ``mean="imagenet"``, uses ImageNet's (0.229, 0.224, 0.225)); a constant channel
        then gets 1. Given values must be finite and positive.
    channels : {"auto", "first", "last"}, default="auto"
        Where the channel axis of 4-D images or of signals with channels is, see
        :class:`CNNClassifier`.
    input_type : {"auto", "image", "signal"}, default="auto"
        "signal" reads 3-D input as ``(N, C, L)`` signals (per-channel statistics over
        samples and time); "auto" reads 3-D input as grayscale images and 2-D input as
        one-channel signals, refusing rows that could be flat square images (see
        :class:`CNNClassifier`). Use the same value as the classifier's.
    dtype : {"float32", "float16"}, default="float32"
        dtype of ``transform``'s output. The statistics are applied in float32 either way;
        "float16" then stores the result in half the memory (2 bytes per value instead of 4:
        0.3 GiB instead of 0.6 GiB for CIFAR-10's 50,000 training images). Its rounding error
        (at most 0.001 for values below 2 in absolute value) is far below the step between two
        uint8 pixel values after normalization (1 / (255 * std), about 0.016 for
        CIFAR-10). sk_cnn's estimators cast each batch to float32; other estimators may need
        float32 input.

    Attributes
    ----------
    mean_ : ndarray of shape (n_channels,)
        The mean subtracted from each channel.
    std_ : ndarray of shape (n_channels,)
        The standard deviation each channel is divided by.
    input_dtype_ : numpy.dtype
        dtype of the input seen in fit (uint8 input is scaled to [0, 1]).
    layout_ : {"first", "last"} or None
        Where the channel axis of the input seen in fit was (None: no channel axis).
    n_features_in_ : int
        ``X.shape[1]`` of the input seen in fit.

    Examples
    --------
    >>> import numpy as np
    >>> from sk_cnn import ImageNormalizer
    >>> X = np.random.default_rng(0).integers(0, 256, (10, 5, 5, 3), dtype=np.uint8)
    >>> Xt = ImageNormalizer().fit_transform(X)
    >>> Xt.dtype, Xt.shape
    (dtype('float32'), (10, 5, 5, 3))
    """

    _parameter_constraints = {
        "mean": [None, StrOptions({"imagenet"}), Real, "array-like"],
        "std": [None, StrOptions({"imagenet"}), Real, "array-like"],
        "channels": [StrOptions(set(CHANNEL_OPTIONS))],
        "input_type": [StrOptions(set(INPUT_TYPES))],
        "dtype": [StrOptions({"float32", "float16"})],
    }

    def __init__(self, mean=None, std=None, channels="auto", input_type="auto",
                 dtype="float32"):
        self.mean = mean
        self.std = std
        self.channels = channels
        self.input_type = input_type
        self.dtype = dtype

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Learn (or set) the per-channel statistics.

        Parameters
        ----------
        X : array-like of ndim 2, 3 or 4
            Training images.
        y : None
            Ignored.

        Returns
        -------
        self : ImageNormalizer
            The fitted transformer.
        """
        X = validate_images(self, X, reset=True)
        check_network_input(self, X)
        self.input_dtype_ = X.dtype
        self.layout_ = resolve_channels(X.shape, self.channels, self.input_type)
        view = canonical_view(X, self.layout_)
        n_channels = view.shape[1]
        # The only string either parameter accepts is "imagenet".
        imagenet = isinstance(self.mean, str) or isinstance(self.std, str)
        if imagenet and n_channels != 3:
            raise ValueError(f'ImageNet statistics need 3 channels; the images have {n_channels}.')
        learned = None
        if self.mean is None or (self.std is None and not imagenet):
            learned = _channel_stats(view)
        mean, std = self.mean, self.std
        if isinstance(mean, str):
            mean = IMAGENET_MEAN
        if isinstance(std, str) or (std is None and imagenet):
            std = IMAGENET_STD
        self.mean_ = learned[0] if mean is None else _channel_values(mean, n_channels, "mean")
        if std is None:  # learned: a constant channel is only centered
            self.std_ = np.where(learned[1] > 1e-12, learned[1], 1.0)
        else:
            self.std_ = _channel_values(std, n_channels, "std")
            if np.any(self.std_ <= 0):
                raise ValueError(f"std must be positive; got {self.std_.tolist()}.")
        return self

    def _apply(self, X_given, forward, defer=True):
        check_is_fitted(self)
        X = validate_images(self, X_given, reset=False)
        if forward:
            check_network_input(self, X, self.input_dtype_)
        view = canonical_view(X, self.layout_)
        if view.shape[1] != len(self.mean_):
            raise ValueError(
                f"ImageNormalizer was fitted on {len(self.mean_)}-channel data; got "
                f"{view.shape[1]} channel(s) (input shape {X.shape}).")
        if forward and defer and isinstance(X_given, np.memmap):
            # Data on disk stays there: the estimator normalizes each batch it reads.
            scale = np.float32(1 / 255) if X.dtype == np.uint8 else np.float32(1)
            normalization = DeferredNormalization(
                mean=tuple(self.mean_.astype(np.float32).tolist()),
                std=tuple(self.std_.astype(np.float32).tolist()),
                scale=float(scale), dtype=self.dtype)
            return NormalizedImages(X, normalization, self._transform_in_memory)
        out = np.empty(X.shape, dtype=self.dtype if forward else np.float32)
        out_view = canonical_view(out, self.layout_)
        shape = (1, -1) + (1,) * (view.ndim - 2)
        mean = self.mean_.astype(np.float32).reshape(shape)
        std = self.std_.astype(np.float32).reshape(shape)
        scale = np.float32(1 / 255) if (forward and X.dtype == np.uint8) else np.float32(1)
        if forward and X.dtype == np.uint8:
            # 256 possible values per channel: look the results up (4-5x faster on CIFAR-10,
            # benchmarks/preprocessing.py; the same float32 arithmetic, so the same values).
            levels = np.arange(256, dtype=np.float32) * scale
            tables = ((levels - mean.reshape(-1, 1)) / std.reshape(-1, 1)).astype(out.dtype)
            for start in range(0, len(view), _CHUNK):
                for c, table in enumerate(tables):  # one contiguous table per channel
                    out_view[start:start + _CHUNK, c] = table[view[start:start + _CHUNK, c]]
            return keep_mark(X_given, out)
        for start in range(0, len(view), _CHUNK):
            chunk = view[start:start + _CHUNK].astype(np.float32)
            chunk = (chunk * scale - mean) / std if forward else chunk * std + mean
            out_view[start:start + _CHUNK] = chunk
        return keep_mark(X_given, out)

    def transform(self, X):
        """Normalize X.

        A memory-mapped X (``ImageLoader(cache_dir=...)``'s output) is not copied: the result
        is a :class:`~sk_cnn.preprocessing.NormalizedImages` that keeps the map and the
        statistics, and sk_cnn's estimators normalize each batch they read from it (the same
        values as an in-memory result). ``np.asarray`` of it gives the normalized array.

        Parameters
        ----------
        X : array-like
            Images with as many channels as in fit.

        Returns
        -------
        X_normalized : ndarray of float32 (or float16, see ``dtype``) or NormalizedImages
            Same shape and layout as X.
        """
        return self._apply(X, forward=True)

    def _transform_in_memory(self, X):
        return self._apply(X, forward=True, defer=False)

    def inverse_transform(self, X):
        """Undo the normalization (uint8 input comes back on the [0, 1] scale).

        Parameters
        ----------
        X : array-like
            Normalized images.

        Returns
        -------
        X_original : ndarray of float32
            Images before normalization.
        """
        return self._apply(X, forward=False)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags
