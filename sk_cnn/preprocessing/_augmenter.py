"""ImageAugmenter: the scikit-learn transformer that marks training data for augmentation.

How the mark reaches the estimator is :mod:`sk_cnn.preprocessing._augmentation`'s; the
batched operations it asks for are :mod:`sk_cnn.training._augment`'s.
"""

from __future__ import annotations

from numbers import Integral, Real

from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ._augmentation import AugmentationSpec, mark_for_training
from ._deferred import NormalizedImages
from ._input import validate_images
from ._set_output import ArrayOutputMixin


class ImageAugmenter(ArrayOutputMixin, TransformerMixin, BaseEstimator):
    """Random augmentation of the training batches of a following sk_cnn estimator.

    ``transform`` returns its input unchanged: validation data, test data and ``predict`` are
    never augmented. ``fit_transform`` (what a Pipeline calls on training data) also returns the
    same values, marked with this augmentation; the estimator then draws fresh random
    parameters for every training batch of every epoch, with tensor operations on the whole
    batch. The estimator's internal validation split is never augmented either.

    Put it after the other sk_cnn transformers and right before the :class:`CNNClassifier`
    or :class:`CNNRegressor`; sk_cnn transformers placed after it keep the mark. Another
    transformer between them may drop it: the estimator's ``fit`` then warns that it trains
    without augmentation. It augments 1-D signals too: ``horizontal_flip`` reverses time,
    ``crop_padding`` shifts in time, and ``noise`` and ``scaling`` are the usual signal
    augmentations.

    Parameters
    ----------
    horizontal_flip : bool or "alternate", default=True
        Flip each image left-right with probability 1/2 (reverse time for signals).
        "alternate" is airbench's derandomized flip: each image is flipped at random in the
        first epoch and the other way in every following epoch, so any two consecutive epochs
        show it both ways (needs the classifier's default ``iterator_train``).
    vertical_flip : bool, default=False
        Flip each image upside down with probability 1/2.
    crop_padding : int, default=4
        Random crop after padding: shift each image by up to this many pixels per axis.
    padding_mode : {"constant", "reflect"}, default="constant"
        What fills the border uncovered by a shift (as in torchvision's ``RandomCrop``):
        "constant" fills zeros (the mean after :class:`ImageNormalizer`), "reflect" mirrors the
        image at its edge (airbench's choice, and what ``tta="flip_translate"`` uses);
        "reflect" needs ``crop_padding`` smaller than the image (or signal).
    rotation : float, default=0.0
        Rotate each image by a random angle in [-rotation, rotation] degrees.
    brightness : float, default=0.0
        Add a random offset in [-brightness, brightness] to each image, in the units the
        network sees: after :class:`ImageNormalizer`, standard deviations; for uint8 images,
        the [0, 1] scale they are converted to (0.1 is about 25 grey levels). Not clipped.
    contrast : float, default=0.0
        Scale each image's deviation from its mean by a random factor in
        [1 - contrast, 1 + contrast].
    noise : float, default=0.0
        Standard deviation of Gaussian noise added to every value, in the units the network
        sees (as for ``brightness``).
    scaling : float, default=0.0
        Multiply each sample by a random factor in [1 - scaling, 1 + scaling] (amplitude
        scaling of signals).
    random_state : int or None, default=None
        Seed of the augmentation's random numbers; None follows the classifier's
        ``random_state``.

    Attributes
    ----------
    spec_ : AugmentationSpec
        The validated augmentation.
    input_dtype_ : numpy.dtype
        dtype of the input seen in fit.
    n_features_in_ : int
        ``X.shape[1]`` of the input seen in fit.

    Examples
    --------
    >>> import numpy as np
    >>> from sk_cnn import ImageAugmenter
    >>> X = np.zeros((4, 8, 8), dtype=np.float32)
    >>> aug = ImageAugmenter(crop_padding=1)
    >>> bool((aug.fit_transform(X) == X).all()), aug.fit_transform(X).augmentation.crop_padding
    (True, 1)
    """

    _parameter_constraints = {
        "horizontal_flip": ["boolean", StrOptions({"alternate"})],
        "vertical_flip": ["boolean"],
        "crop_padding": [Interval(Integral, 0, None, closed="left")],
        "padding_mode": [StrOptions({"constant", "reflect"})],
        "rotation": [Interval(Real, 0, 180, closed="both")],
        "brightness": [Interval(Real, 0, None, closed="left")],
        "contrast": [Interval(Real, 0, 1, closed="both")],
        "noise": [Interval(Real, 0, None, closed="left")],
        "scaling": [Interval(Real, 0, 1, closed="both")],
        "random_state": [Interval(Integral, 0, 2**63 - 1, closed="both"), None],
    }

    def __init__(self, horizontal_flip=True, vertical_flip=False, crop_padding=4,
                 padding_mode="constant", rotation=0.0, brightness=0.0, contrast=0.0, noise=0.0,
                 scaling=0.0, random_state=None):
        self.horizontal_flip = horizontal_flip
        self.vertical_flip = vertical_flip
        self.crop_padding = crop_padding
        self.padding_mode = padding_mode
        self.rotation = rotation
        self.brightness = brightness
        self.contrast = contrast
        self.noise = noise
        self.scaling = scaling
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Validate the parameters against the data.

        Parameters
        ----------
        X : array-like of ndim 2, 3 or 4
            Training images (or signals).
        y : None
            Ignored.

        Returns
        -------
        self : ImageAugmenter
            The fitted transformer.
        """
        images = X.images if isinstance(X, NormalizedImages) else X
        self._fit_validated(validate_images(self, images, reset=True), X)
        return self

    def _fit_validated(self, X, X_given):
        # A NormalizedImages' values are its normalized dtype, whatever the images' dtype.
        self.input_dtype_ = X_given.dtype if isinstance(X_given, NormalizedImages) else X.dtype
        if X.ndim == 2 and (self.vertical_flip or self.rotation):
            raise ValueError(
                "vertical_flip and rotation need images; 2-D input (n_samples, n_features) is "
                "read as 1-D signals. Reshape flat rows into images with ImageReshaper first.")
        self.spec_ = AugmentationSpec(
            horizontal_flip=(self.horizontal_flip if self.horizontal_flip == "alternate"
                             else bool(self.horizontal_flip)),
            vertical_flip=bool(self.vertical_flip),
            crop_padding=int(self.crop_padding), padding_mode=self.padding_mode,
            rotation=float(self.rotation),
            brightness=float(self.brightness), contrast=float(self.contrast),
            noise=float(self.noise), scaling=float(self.scaling), random_state=self.random_state)

    def transform(self, X):
        """Return X unchanged (validation, test and prediction data are never augmented).

        Parameters
        ----------
        X : array-like
            Images.

        Returns
        -------
        X : ndarray or NormalizedImages
            The same values, without any augmentation mark (a
            :class:`~sk_cnn.preprocessing.NormalizedImages` stays one).
        """
        check_is_fitted(self)
        if isinstance(X, NormalizedImages):  # left for the estimator to normalize
            return X.with_images(validate_images(self, X.images, reset=False))
        return validate_images(self, X, reset=False)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit_transform(self, X, y=None):
        """Fit, then return the training data marked for augmentation by the estimator.

        Parameters
        ----------
        X : array-like
            Training images.
        y : None
            Ignored.

        Returns
        -------
        X_marked : AugmentedArray or NormalizedImages
            The same values (no copy), carrying ``spec_`` (as its ``augmentation``
            attribute) for the :class:`CNNClassifier` or :class:`CNNRegressor` that follows;
            for a :class:`~sk_cnn.preprocessing.NormalizedImages`, the same with its images
            marked.
        """
        if isinstance(X, NormalizedImages):  # the mark goes on the images, not copied
            images = validate_images(self, X.images, reset=True)
            self._fit_validated(images, X)
            return X.with_images(mark_for_training(images, self.spec_))
        X_checked = validate_images(self, X, reset=True)  # once, not in fit and transform
        self._fit_validated(X_checked, X)
        return mark_for_training(X_checked, self.spec_)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        return tags
