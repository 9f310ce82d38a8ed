"""sk_cnn: convolutional neural networks as scikit-learn estimators, built on skorch and PyTorch."""

from . import datasets
from .augment import AugmentationSpec
from .augmenter import ImageAugmenter
from .classifier import CNNClassifier
from .export import export_onnx, export_program
from .image_loader import ImageLoader
from .persistence import load, save, save_weights
from .regressor import CNNRegressor
from .transformers import ImageNormalizer, ImageReshaper

__version__ = "0.1.0"

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
