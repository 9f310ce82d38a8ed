"""The networks sk_cnn's estimators build: the plain CNN, the airbench network and torchvision
backbones (:func:`available_backbones` lists those that ``backbone=`` takes)."""

from ._backbones import available_backbones

__all__ = ["available_backbones"]
