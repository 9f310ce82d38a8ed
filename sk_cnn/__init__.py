"""sk_cnn: convolutional neural networks as scikit-learn estimators, built on skorch and PyTorch."""

from . import datasets
from ._version import __version__
from .estimators import CNNClassifier, CNNRegressor
from .io import export_onnx, export_program, load, save, save_weights
from .preprocessing import (
    AugmentationSpec,
    ImageAugmenter,
    ImageLoader,
    ImageNormalizer,
    ImageReshaper,
)

__all__ = [
    "AugmentationSpec",
    "CNNClassifier",
    "CNNRegressor",
    "ImageAugmenter",
    "ImageLoader",
    "ImageNormalizer",
    "ImageReshaper",
    "export_onnx",
    "export_program",
    "__version__",
    "datasets",
    "load",
    "save",
    "save_weights",
]
