"""Shared fixtures: small, seeded data so that the suite stays fast on 2 CPU cores."""

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline

from sk_cnn import CNNClassifier, ImageAugmenter, ImageNormalizer, ImageReshaper


@pytest.fixture(scope="session")
def digits_split():
    """sklearn digits as flat rows, 25% stratified hold-out (the core issue's protocol)."""
    X, y = load_digits(return_X_y=True)
    return train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)


def _digits_pipeline(**cnn_params):
    params = {"verbose": 0, **cnn_params}
    return Pipeline([
        ("reshape", ImageReshaper(image_shape=(8, 8))),
        ("norm", ImageNormalizer()),
        ("aug", ImageAugmenter(horizontal_flip=False, crop_padding=1)),
        ("cnn", CNNClassifier(**params)),
    ])


@pytest.fixture
def digits_pipeline():
    """Factory of the README's digits pipeline; CNNClassifier parameters may be overridden."""
    return _digits_pipeline


@pytest.fixture
def tiny_images():
    """64 RGB uint8 images (N, H, W, C) of 2 easily separated classes."""
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 32)
    X = rng.integers(0, 60, size=(64, 12, 12, 3)).astype(np.uint8)
    X[y == 1, :6] += 150  # class 1 is bright in the top half
    return X, y


def _tiny_classifier(**params):
    defaults = dict(conv_filters=(4, 8), max_epochs=2, batch_size=16, verbose=0, random_state=0)
    return CNNClassifier(**{**defaults, **params})


@pytest.fixture
def tiny_classifier():
    """Factory of a CNNClassifier small and short enough for unit tests."""
    return _tiny_classifier
