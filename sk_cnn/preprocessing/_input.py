"""How sk_cnn reads an input array: validation, where the channel axis is, the channels-first view.

Images and signals are kept as the caller gave them (uint8 stays uint8); the estimators and
transformers only view them channels-first (``canonical_view``), without copying.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from sklearn.utils.validation import validate_data

CHANNEL_OPTIONS = ("auto", "first", "last")


INPUT_TYPES = ("auto", "image", "signal")


# Channel counts that "auto" recognises: grayscale, RGB, RGBA.
_USUAL_CHANNELS = (1, 3, 4)
# The smallest side of a square image that flat rows are taken to be: sklearn's digits (8x8)
# are the smallest images a CNN is commonly trained on.
_MIN_IMAGE_SIDE = 8


def flat_image_shape(n_columns: int) -> tuple[int, ...] | None:
    """The square image shape that ``n_columns`` flat pixels may be, or None.

    ``(s, s)`` when the rows may be grayscale images (784 -> (28, 28)), ``(s, s, 3)`` when
    they may be RGB ones (3072 -> (32, 32, 3)), for sides of 8 pixels or more.
    """
    for channels in (1, 3):
        side = math.isqrt(n_columns // channels)
        if (n_columns % channels == 0 and side * side * channels == n_columns
                and side >= _MIN_IMAGE_SIDE):
            return (side, side) if channels == 1 else (side, side, channels)
    return None


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
        "signal" reads 2-D and 3-D arrays as signals (3-D: with channels); "auto" reads 3-D
        arrays as grayscale images, and 2-D arrays as signals only when their rows cannot be
        flat square images (see :func:`flat_image_shape`): flat pixels are refused.

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
    image_shape = flat_image_shape(shape[1]) if ndim == 2 and input_type == "auto" else None
    if image_shape is not None:
        raise ValueError(
            f"Got a 2-D array of {shape[1]} columns per row: flat pixels of "
            f"{'x'.join(map(str, image_shape))} images, or 1-D signals? A CNN needs images as "
            f"images: put sk_cnn.ImageReshaper(image_shape={image_shape}) before it (in a "
            f"Pipeline). If each row is a 1-D signal, set input_type='signal'.")
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


def validate_images(estimator, X, y="no_validation", *, reset: bool, **check_params):
    """Validate image input with scikit-learn's ``validate_data``.

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
        The validated data, as ``validate_data`` returns it (plain arrays: an augmentation
        mark is not kept, see :mod:`sk_cnn.preprocessing._augmentation`).
    """
    check_params = {"allow_nd": True, "dtype": "numeric", **check_params}
    X = _stacked_images(estimator, X)
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
    return out


def _stacked_images(estimator, X):
    """A list of images (PIL images, arrays) as one array, or X unchanged.

    scikit-learn counts the features of a list from its first element, which a PIL image
    does not give: without this, such a list would fit (``np.asarray`` reads it) but not
    predict.
    """
    if not isinstance(X, (list, tuple)) or not X or not all(
            hasattr(item, "__array_interface__") or hasattr(item, "__array__") for item in X):
        return X
    images = [np.asarray(item) for item in X]
    shapes = sorted({image.shape for image in images})
    if len(shapes) > 1:
        raise ValueError(
            f"{type(estimator).__name__} got a list of images of {len(shapes)} different "
            f"shapes ({shapes[:3]}{', ...' if len(shapes) > 3 else ''}): a batch needs one "
            f"size. Resize them first, e.g. with sk_cnn.ImageLoader(size=...) on their "
            f"paths.")
    return np.stack(images)


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

