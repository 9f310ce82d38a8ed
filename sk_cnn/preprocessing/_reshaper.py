"""ImageReshaper: flat rows of pixels to images, and images to the channels-first layout."""

from __future__ import annotations

import math

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import check_is_fitted

from ._augmentation import keep_mark
from ._input import CHANNEL_OPTIONS, resolve_channels, validate_images
from ._set_output import ArrayOutputMixin


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
        X = validate_images(self, X, reset=True)
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
        samples = validate_images(self, X, reset=False)
        if tuple(samples.shape[1:]) != self.input_shape_:
            raise ValueError(
                f"ImageReshaper was fitted on samples of shape {self.input_shape_}, "
                f"got samples of shape {tuple(samples.shape[1:])}.")
        return keep_mark(X, self._reshape(samples))

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

