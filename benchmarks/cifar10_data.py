"""Read the team's CIFAR-10 JPEG archive (../shared/datasets/cifar10-jpeg.tar.gz) into arrays.

Benchmarks and examples share this reader; the test suite never needs it. Decoded arrays are
cached next to the user's other caches (``~/.cache/sk_cnn``) so later runs start in a second.
The environment variable ``SK_CNN_CIFAR10`` names another copy of the archive (e.g. one carried
to a GPU machine).
"""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import numpy as np

ARCHIVE = Path(os.environ.get(
    "SK_CNN_CIFAR10",
    Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "cifar10-jpeg.tar.gz"))
CACHE = Path.home() / ".cache" / "sk_cnn" / "cifar10-jpeg.npz"


def available(archive: Path = ARCHIVE) -> bool:
    """True when the shared archive is beside the checkout."""
    return Path(archive).is_file()


def _decode(archive: Path):
    from PIL import Image

    images = {"train": [], "test": []}
    labels = {"train": [], "test": []}
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar:
            parts = member.name.split("/")
            if not member.isfile() or len(parts) != 3 or parts[0] not in images:
                continue
            data = tar.extractfile(member).read()
            with Image.open(io.BytesIO(data)) as image:
                images[parts[0]].append(np.asarray(image.convert("RGB")))
            labels[parts[0]].append(parts[1])
    classes = sorted(set(labels["train"]))
    out = {}
    for split in ("train", "test"):
        order = np.argsort(np.array(labels[split]), kind="stable")
        out[f"X_{split}"] = np.stack(images[split])[order]
        out[f"y_{split}"] = np.searchsorted(classes, np.array(labels[split])[order])
    out["classes"] = np.array(classes)
    return out


def load_cifar10(archive: Path = ARCHIVE):
    """Return ``X_train, y_train, X_test, y_test, classes``: uint8 (N, 32, 32, 3) and int labels."""
    if CACHE.is_file():
        data = dict(np.load(CACHE))
    else:
        data = _decode(Path(archive))
        CACHE.parent.mkdir(parents=True, exist_ok=True)
        np.savez(CACHE, **data)
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
