"""Data sets: class-per-folder image trees, sklearn's digits as uint8 images, and CIFAR-10."""

from ._cifar10 import fetch_cifar10
from ._files import IMAGE_EXTENSIONS, find_images, load_digits_images, load_image_folder

__all__ = ["IMAGE_EXTENSIONS", "fetch_cifar10", "find_images", "load_digits_images",
           "load_image_folder"]
