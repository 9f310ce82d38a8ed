"""The networks sk_cnn's estimators build: the plain CNN, the airbench network and torchvision
backbones (:func:`available_backbones` lists those that ``backbone=`` takes), and
:class:`CNNFeatureExtractor`, which embeds images with a pretrained backbone."""

from ._backbones import available_backbones
from ._feature_extractor import CNNFeatureExtractor

__all__ = ["CNNFeatureExtractor", "available_backbones"]
