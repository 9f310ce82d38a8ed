"""scikit-learn transformers that prepare images for sk_cnn's estimators.

:class:`ImageLoader` decodes files, :class:`ImageReshaper` turns flat rows into images,
:class:`ImageNormalizer` standardizes each channel, and :class:`ImageAugmenter` marks the
training data for augmentation, which the estimator applies to its training batches only
(:class:`AugmentationSpec` says what it applies). :class:`NormalizedImages` is what
:class:`ImageNormalizer` returns for memory-mapped images (``ImageLoader(cache_dir=...)``):
the estimator normalizes their batches as it reads them.
"""

from ._augmentation import AugmentationSpec
from ._augmenter import ImageAugmenter
from ._deferred import NormalizedImages
from ._loader import ImageLoader
from ._normalizer import ImageNormalizer
from ._reshaper import ImageReshaper

__all__ = ["AugmentationSpec", "ImageAugmenter", "ImageLoader", "ImageNormalizer",
           "ImageReshaper", "NormalizedImages"]
