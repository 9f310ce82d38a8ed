"""How ImageAugmenter's augmentation reaches the estimator: the one contract between them.

``ImageAugmenter.fit_transform`` returns the training data unchanged but *marked*: a zero-copy
ndarray view that carries an :class:`AugmentationSpec`. sk_cnn's transformers placed after it
pass the mark on (:func:`keep_mark`); the estimator's ``fit`` (and ``partial_fit``) reads it
once, first (:func:`take_augmentation`), trains on the plain array and draws fresh random
parameters for every training batch of every epoch. Validation batches and prediction never see
augmentation. Nothing else in sk_cnn knows how the spec travels.

Another transformer between ImageAugmenter and the estimator may drop the mark (anything that
converts its input to a plain array does). ``fit_transform`` therefore also notes, for the
current thread, that marked training data is on its way; a ``fit`` that then receives as many
samples without the mark warns instead of training silently without augmentation.
"""

from __future__ import annotations

import warnings
from contextvars import ContextVar
from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class AugmentationSpec:
    """What to do to every training batch; :class:`sk_cnn.ImageAugmenter` builds it in ``fit``.

    The fields are the validated parameters of :class:`sk_cnn.ImageAugmenter` (see it for
    details); the spec is frozen.

    Parameters
    ----------
    horizontal_flip : bool or "alternate", default=True
        Flip each sample left-right with probability 1/2 (reverse time for signals);
        "alternate" flips each image at random in the first epoch, the other way after.
    vertical_flip : bool, default=False
        Flip each image upside down with probability 1/2.
    crop_padding : int, default=4
        Shift each sample by up to this many pixels per axis (random crop after padding).
    padding_mode : {"constant", "reflect"}, default="constant"
        What fills the border uncovered by a shift: zeros or the mirrored image.
    rotation : float, default=0.0
        Rotate each image by a random angle in [-rotation, rotation] degrees.
    brightness : float, default=0.0
        Add a random offset in [-brightness, brightness] to each sample.
    contrast : float, default=0.0
        Scale each sample's deviation from its mean by a random factor in
        [1 - contrast, 1 + contrast].
    noise : float, default=0.0
        Standard deviation of Gaussian noise added to every value.
    scaling : float, default=0.0
        Multiply each sample by a random factor in [1 - scaling, 1 + scaling].
    random_state : int or None, default=None
        Seed of the augmentation's random numbers; None follows the estimator's
        ``random_state``.
    """

    horizontal_flip: bool | str = True  # True, False or "alternate"
    vertical_flip: bool = False
    crop_padding: int = 4
    padding_mode: str = "constant"
    rotation: float = 0.0
    brightness: float = 0.0
    contrast: float = 0.0
    noise: float = 0.0
    scaling: float = 0.0
    random_state: int | None = None

    def is_identity(self) -> bool:
        """True when the spec changes nothing."""
        return not (self.horizontal_flip or self.vertical_flip or self.crop_padding
                    or self.rotation or self.brightness or self.contrast or self.noise
                    or self.scaling)


class AugmentedArray(np.ndarray):
    """A training array marked with the augmentation the estimator should apply to it.

    Numpy operations keep the mark (``__array_finalize__``); ``np.asarray`` removes it. The values
    are exactly those of the array it views.
    """

    def __new__(cls, X, augmentation: AugmentationSpec):
        obj = np.asarray(X).view(cls)
        obj.augmentation = augmentation
        return obj

    def __array_finalize__(self, obj):
        self.augmentation = getattr(obj, "augmentation", None)

    def __reduce__(self):
        reconstruct, args, state = super().__reduce__()
        spec = None if self.augmentation is None else asdict(self.augmentation)
        return reconstruct, args, (state, spec)

    def __setstate__(self, state):
        array_state, spec = state
        super().__setstate__(array_state)
        self.augmentation = None if spec is None else AugmentationSpec(**spec)


# The number of samples ImageAugmenter.fit_transform last marked in this thread (or task), until
# an estimator's fit reads it: how a fit tells that a step in between dropped the mark.
_marked_samples: ContextVar[int | None] = ContextVar("sk_cnn_marked_samples", default=None)


def mark_for_training(X: np.ndarray, spec: AugmentationSpec) -> AugmentedArray:
    """X, marked with ``spec`` for the estimator that trains on it (no copy).

    Parameters
    ----------
    X : ndarray
        Validated training data.
    spec : AugmentationSpec
        The augmentation to apply to its training batches.

    Returns
    -------
    X_marked : AugmentedArray
        A view of X carrying ``spec``.
    """
    _marked_samples.set(len(X))
    return AugmentedArray(X, spec)


def keep_mark(source, result: np.ndarray):
    """``result`` carrying the mark of ``source``, if it has one (an sk_cnn transformer's
    output computed from a marked input).

    Parameters
    ----------
    source : array-like
        The transformer's input.
    result : ndarray
        Its output, as many samples.

    Returns
    -------
    result : ndarray or AugmentedArray
        ``result``, marked as ``source`` was.
    """
    if isinstance(source, AugmentedArray) and source.augmentation is not None:
        return AugmentedArray(result, source.augmentation)
    return result


def take_augmentation(X, estimator_name: str):
    """Split the training data an estimator's fit receives into the data and its augmentation.

    Warns when ImageAugmenter marked as many samples in this thread and the mark did not
    arrive: a step in between dropped it.

    Parameters
    ----------
    X : array-like
        What ``fit`` received.
    estimator_name : str
        The estimator's class name, for the warning.

    Returns
    -------
    X : array-like
        The data, a plain ndarray view where X was marked.
    spec : AugmentationSpec or None
        The augmentation to apply to its training batches; None trains without.
    """
    marked = _marked_samples.get()
    _marked_samples.set(None)
    if isinstance(X, AugmentedArray):
        return X.view(np.ndarray), X.augmentation
    if marked is not None and marked == _length(X):
        warnings.warn(
            f"ImageAugmenter marked {marked} training samples for augmentation, but "
            f"{estimator_name}.fit received {marked} samples without the mark: a step between "
            f"them returned a plain array, so this fit trains without augmentation. Put "
            f"ImageAugmenter right before {estimator_name} (sk_cnn's ImageReshaper and "
            f"ImageNormalizer may follow it; they keep the mark).", UserWarning, stacklevel=3)
    return X, None


def _length(X) -> int | None:
    try:
        return len(X)
    except TypeError:
        return None
