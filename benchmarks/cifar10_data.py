"""Read the team's CIFAR-10 JPEG archive (../shared/datasets/cifar10-jpeg.tar.gz) into arrays.

Benchmarks and examples share this reader; the test suite never needs it. Decoded arrays are
cached next to the user's other caches (``~/.cache/sk_cnn/<archive name>.npz``) so later runs
start in a second. The environment variable ``SK_CNN_CIFAR10`` names another archive: a copy of
the JPEG one (e.g. carried to a GPU machine), or the lossless CIFAR-10 in its official
``cifar-10-python.tar.gz`` layout (``cifar-10-batches-py/data_batch_1`` ... ``test_batch``,
``batches.meta``), which airbench's 94% refers to; nothing here downloads it. Reading is
:func:`sk_cnn.datasets.fetch_cifar10`'s (``source=``); this module adds the cache.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from sk_cnn.datasets import fetch_cifar10

ARCHIVE = Path(os.environ.get(
    "SK_CNN_CIFAR10",
    Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "cifar10-jpeg.tar.gz"))
CACHE_DIR = Path.home() / ".cache" / "sk_cnn"
# The labels' order: CIFAR-10's (its batches.meta), which is also the names' sorted order.
CLASSES = np.array(["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                    "ship", "truck"])


def cache_path(archive: Path) -> Path:
    """Where the decoded arrays of ``archive`` are cached: one file per archive name."""
    return CACHE_DIR / (Path(archive).name.removesuffix(".tar.gz") + ".npz")


CACHE = cache_path(ARCHIVE)


def available(archive: Path = ARCHIVE) -> bool:
    """True when the shared archive is beside the checkout."""
    return Path(archive).is_file()


def _sorted_by_class(X, y):
    """Images grouped by class (stable): both archives give the same order of classes."""
    order = np.argsort(y, kind="stable")
    return np.ascontiguousarray(X[order]), y[order]


def _decode(archive: Path):
    """Both subsets of ``archive``, read by sk_cnn.datasets.fetch_cifar10; int labels."""
    out = {}
    for split in ("train", "test"):
        X, names = fetch_cifar10(split, source=archive)
        out["classes"] = CLASSES
        y = np.searchsorted(CLASSES, names).astype(np.int64)
        out[f"X_{split}"], out[f"y_{split}"] = _sorted_by_class(X, y)
    return out


def load_cifar10(archive: Path = ARCHIVE):
    """Return ``X_train, y_train, X_test, y_test, classes``: uint8 (N, 32, 32, 3) and int labels."""
    cache = cache_path(archive)
    if cache.is_file():
        data = dict(np.load(cache))
    else:
        data = _decode(Path(archive))
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, **data)
    return data["X_train"], data["y_train"], data["X_test"], data["y_test"], data["classes"]


def random_subset(X, y, n, seed=0):
    """``n`` images drawn at random (the archive is sorted by class), kept in archive order."""
    keep = np.sort(np.random.default_rng(seed).permutation(len(X))[:n])
    return X[keep], y[keep]


def stratified_subset(X, y, n, seed=0):
    """The first ``n`` images of a fixed random permutation, balanced across classes."""
    rng = np.random.default_rng(seed)
    classes = np.unique(y)
    per_class = n // len(classes)
    idx = np.concatenate([rng.permutation(np.flatnonzero(y == c))[:per_class] for c in classes])
    idx = rng.permutation(idx)
    return X[idx], y[idx]
