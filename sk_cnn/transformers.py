"""scikit-learn transformers for images: reshape and normalize (augment: ``augmenter.py``)."""

from __future__ import annotations

import math
from numbers import Real

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import check_is_fitted

from .augment import mark
from .augmenter import ImageAugmenter  # noqa: F401  (named here by older pickles)
from .data import (
    CHANNEL_OPTIONS,
    INPUT_TYPES,
    canonical_view,
    check_network_input,
    resolve_channels,
    validate_images,
)
from .set_output import ArrayOutputMixin

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# Images per chunk when computing statistics or normalizing: bounds the float temporaries.
_CHUNK = 4096
# Values per chunk when computing channel statistics (8 MiB of float64).
_STATS_VALUES = 2**20


class ImageReshaper(ArrayOutputMixin, TransformerMixin, BaseEstimator):
    """Turn flat rows of pixels into images, or put images in channels-first layout.

    Parameters
    ----------
    image_shape : tuple of int or None, default=None
        Shape of one image: ``(H, W)``, ``(C, H, W)``, or ``(H, W, C)`` with ``channels="last"``.
        With None, rows whose length is a perfect square become square grayscale images, other
        rows stay 1-D signals, and 3-D/4-D input is passed on channels-first.
    channels : {"auto", "first", "last"}, default="auto"
        Layout of ``image_shape`` (when it has 3 entries) or of 4-D input. The output is always
        channels-first ``(N, C, H, W)`` (or ``(N, H, W)`` / ``(N, L)``).

    Attributes
    ----------
    input_shape_ : tuple of int
        Shape of one input sample seen in fit.
    input_dtype_ : numpy.dtype
        dtype of the input seen in fit (what :func:`sk_cnn.export_onnx` takes).
    output_shape_ : tuple of int
        Shape of one output sample.
    n_features_in_ : int
        ``X.shape[1]`` of the input seen in fit.

    Examples
    --------
    >>> import numpy as np
    >>> from sk_cnn import ImageReshaper
    >>> ImageReshaper(image_shape=(8, 8)).fit_transform(np.zeros((5, 64))).shape
    (5, 8, 8)
    """

    _parameter_constraints = {
        "image_shape": [tuple, list, None],
        "channels": [StrOptions(set(CHANNEL_OPTIONS))],
    }

    def __init__(self, image_shape=None, channels="auto"):
        self.image_shape = image_shape
        self.channels = channels

    def _plan(self, input_shape):
        """Return (reshape_to or None, transpose_last_to_first)."""
        n_values = math.prod(input_shape)
        if self.image_shape is None:
            if len(input_shape) == 1:
                side = math.isqrt(n_values)
                return ((side, side) if side * side == n_values and side > 1 else None), False
            return None, len(input_shape) == 3 and resolve_channels(
                (1,) + tuple(input_shape), self.channels) == "last"
        shape = tuple(int(s) for s in self.image_shape)
        if len(shape) not in (2, 3) or min(shape) < 1:
            raise ValueError(
                f"image_shape must be (H, W), (C, H, W) or (H, W, C) with positive sizes; "
                f"got {self.image_shape!r}.")
        if math.prod(shape) != n_values:
            side = math.isqrt(n_values)
            hint = f" image_shape=({side}, {side}) would fit." if side * side == n_values else ""
            raise ValueError(
                f"Samples of shape {tuple(input_shape)} hold {n_values} values, but "
                f"image_shape={shape} needs {math.prod(shape)}.{hint}")
        transpose = len(shape) == 3 and resolve_channels((1,) + shape, self.channels) == "last"
        return shape, transpose

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Check that the input can be reshaped and record the shapes.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or image array
            Flat rows or images.
        y : None
            Ignored.

        Returns
        -------
        self : ImageReshaper
            The fitted transformer.
        """
        X, _ = validate_images(self, X, reset=True)
        self.input_shape_ = tuple(X.shape[1:])
        self.input_dtype_ = X.dtype
        self.output_shape_ = self._reshape(X[:1]).shape[1:]
        return self

    def _reshape(self, X):
        shape, transpose = self._plan(X.shape[1:])
        if shape is not None:
            X = X.reshape((len(X),) + shape)
        if transpose:
            X = np.moveaxis(X, -1, 1)
        return X

    def transform(self, X):
        """Reshape X.

        Parameters
        ----------
        X : array-like
            Samples of the shape seen in fit.

        Returns
        -------
        X_images : ndarray
            Channels-first images (a view of X where possible).
        """
        check_is_fitted(self)
        X, spec = validate_images(self, X, reset=False)
        if tuple(X.shape[1:]) != self.input_shape_:
            raise ValueError(
                f"ImageReshaper was fitted on samples of shape {self.input_shape_}, "
                f"got samples of shape {tuple(X.shape[1:])}.")
        return mark(self._reshape(X), spec)

    def inverse_transform(self, X):
        """Give images back the input's shape (e.g. flat rows).

        Parameters
        ----------
        X : array-like
            Output of :meth:`transform`.

        Returns
        -------
        X_original : ndarray
            Samples of shape ``input_shape_``.
        """
        check_is_fitted(self)
        X = np.asarray(X)
        _, transpose = self._plan(self.input_shape_)
        if transpose:
            X = np.moveaxis(X, 1, -1)
        return X.reshape((len(X),) + self.input_shape_)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        return tags


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
        samples and time); "auto" reads 2-D input as one-channel signals and 3-D input as
        grayscale images. Use the same value as the classifier's.
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
        X, _ = validate_images(self, X, reset=True)
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

    def _apply(self, X, forward):
        check_is_fitted(self)
        X, spec = validate_images(self, X, reset=False)
        if forward:
            check_network_input(self, X, getattr(self, "input_dtype_", None))
        view = canonical_view(X, self.layout_)
        if view.shape[1] != len(self.mean_):
            raise ValueError(
                f"ImageNormalizer was fitted on {len(self.mean_)}-channel data; got "
                f"{view.shape[1]} channel(s) (input shape {X.shape}).")
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
            return mark(out, spec)
        for start in range(0, len(view), _CHUNK):
            chunk = view[start:start + _CHUNK].astype(np.float32)
            chunk = (chunk * scale - mean) / std if forward else chunk * std + mean
            out_view[start:start + _CHUNK] = chunk
        return mark(out, spec)

    def transform(self, X):
        """Normalize X.

        Parameters
        ----------
        X : array-like
            Images with as many channels as in fit.

        Returns
        -------
        X_normalized : ndarray of float32 (or float16, see ``dtype``)
            Same shape and layout as X.
        """
        return self._apply(X, forward=True)

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
