"""sk_cnn: convolutional neural networks as scikit-learn estimators, built on skorch and PyTorch.

The public names are imported when first used (PEP 562), so that ``import sk_cnn`` and the
``sk-cnn`` command's ``--help`` do not wait for torch and scikit-learn to load.
"""

import importlib
from typing import TYPE_CHECKING

from ._version import __version__

if TYPE_CHECKING:  # what type checkers and editors see; at run time __getattr__ imports
    from . import datasets
    from .estimators import CNNClassifier, CNNRegressor
    from .inspection import lr_find
    from .io import export_onnx, export_program, load, save, save_weights
    from .networks import CNNFeatureExtractor
    from .preprocessing import (
        AugmentationSpec,
        ImageAugmenter,
        ImageLoader,
        ImageNormalizer,
        ImageReshaper,
    )

# Public name -> the module that defines it.
_LAZY = {
    "AugmentationSpec": "preprocessing",
    "CNNClassifier": "estimators",
    "CNNFeatureExtractor": "networks",
    "CNNRegressor": "estimators",
    "ImageAugmenter": "preprocessing",
    "ImageLoader": "preprocessing",
    "ImageNormalizer": "preprocessing",
    "ImageReshaper": "preprocessing",
    "export_onnx": "io",
    "export_program": "io",
    "load": "io",
    "lr_find": "inspection",
    "save": "io",
    "save_weights": "io",
}
# Submodules that ``sk_cnn.<name>`` reaches without importing them first, as it did when this
# module imported them all.
_SUBMODULES = ("datasets", "estimators", "exceptions", "inspection", "io", "networks",
               "preprocessing", "training")

__all__ = [
    "AugmentationSpec",
    "CNNClassifier",
    "CNNFeatureExtractor",
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
    "lr_find",
    "save",
    "save_weights",
]


def __getattr__(name):
    if name in _LAZY:
        value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__) | set(_SUBMODULES))

