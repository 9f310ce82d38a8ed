"""Data and output folder shared by the ``plot_*`` examples (not an example itself).

The examples train on a class-balanced subset of CIFAR-10 read from the CIFAR-10 JPEG archive
``../shared/datasets/cifar10-jpeg.tar.gz`` (through ``benchmarks/cifar10_data.py``, which caches
the decoded arrays in ``~/.cache/sk_cnn``). Without the archive they fall back to sklearn's
digits and say so. The environment variable ``SK_CNN_EXAMPLE_DATA`` chooses:

- ``auto`` (default): CIFAR-10 when the archive is there, else digits;
- ``digits``: always digits (seconds per example; the documentation build uses it);
- ``cifar10``: always CIFAR-10 (an error without the archive).

Pictures are saved under ``SK_CNN_EXAMPLE_OUTPUT`` (default: ``output`` in the current folder).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@dataclass
class ExampleData:
    """Train and test images, their labels, the class names and where they came from."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    class_names: list
    description: str
    name: str


def _cifar10(n_train: int, n_test: int, seed: int) -> ExampleData:
    sys.path.insert(0, str(BENCHMARKS))
    try:
        from cifar10_data import load_cifar10, stratified_subset
    finally:
        sys.path.remove(str(BENCHMARKS))
    X_train, y_train, X_test, y_test, classes = load_cifar10()
    X_train, y_train = stratified_subset(X_train, y_train, n_train, seed)
    X_test, y_test = stratified_subset(X_test, y_test, n_test, seed)
    return ExampleData(X_train, y_train, X_test, y_test, [str(c) for c in classes],
                       f"CIFAR-10: {len(X_train)} training and {len(X_test)} test images "
                       f"(uint8, 32x32x3), class-balanced subsets", "cifar10")


def _digits(n_train: int, n_test: int, seed: int, reason: str) -> ExampleData:
    X, y = load_digits(return_X_y=True)
    X = (X.reshape(-1, 8, 8) * (255 / 16)).round().astype(np.uint8)  # 8x8 grayscale images
    n_test = min(n_test, len(X) // 4)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=n_test, stratify=y, random_state=seed)
    X_train, y_train = X_train[:n_train], y_train[:n_train]
    return ExampleData(X_train, y_train, X_test, y_test, [str(d) for d in range(10)],
                       f"sklearn digits instead of CIFAR-10 ({reason}): {len(X_train)} training "
                       f"and {len(X_test)} test images (uint8, 8x8)", "digits")


def cifar10_or_why_not() -> str | None:
    """None when the examples should use CIFAR-10 (see the module docstring), else the reason
    they use digits instead."""
    choice = os.environ.get("SK_CNN_EXAMPLE_DATA", "auto").lower()
    if choice not in ("auto", "digits", "cifar10"):
        raise ValueError(f"SK_CNN_EXAMPLE_DATA must be auto, digits or cifar10, got {choice!r}.")
    sys.path.insert(0, str(BENCHMARKS))
    try:
        from cifar10_data import ARCHIVE, available
    finally:
        sys.path.remove(str(BENCHMARKS))
    if choice == "digits":
        return "SK_CNN_EXAMPLE_DATA=digits"
    if available() or choice == "cifar10":
        return None
    return f"{ARCHIVE} is not there"


def load_example_data(n_train: int = 4000, n_test: int = 1000, seed: int = 0) -> ExampleData:
    """CIFAR-10 subsets when the archive is there (see the module docstring), else digits."""
    reason = cifar10_or_why_not()
    if reason is None:
        return _cifar10(n_train, n_test, seed)
    return _digits(n_train, n_test, seed, reason)


def output_dir() -> Path:
    """Folder for the pictures (created when missing)."""
    path = Path(os.environ.get("SK_CNN_EXAMPLE_OUTPUT", "output"))
    path.mkdir(parents=True, exist_ok=True)
    return path
