"""Read the team's CIFAR-10 JPEG archive (../shared/datasets/cifar10-jpeg.tar.gz) into arrays.

Benchmarks and examples share this reader; the test suite never needs it. Decoded arrays are
cached next to the user's other caches (``~/.cache/sk_cnn/<archive name>.npz``) so later runs
start in a second. The environment variable ``SK_CNN_CIFAR10`` names another archive: a copy of
the JPEG one (e.g. carried to a GPU machine), or the lossless CIFAR-10 in its official
``cifar-10-python.tar.gz`` layout (``cifar-10-batches-py/data_batch_1`` ... ``test_batch``,
``batches.meta``), which airbench's 94% refers to; nothing here downloads it.
"""

from __future__ import annotations

import io
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np

ARCHIVE = Path(os.environ.get(
    "SK_CNN_CIFAR10",
    Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "cifar10-jpeg.tar.gz"))
CACHE_DIR = Path.home() / ".cache" / "sk_cnn"


def cache_path(archive: Path) -> Path:
    """Where the decoded arrays of ``archive`` are cached: one file per archive name."""
    return CACHE_DIR / (Path(archive).name.removesuffix(".tar.gz") + ".npz")


CACHE = cache_path(ARCHIVE)


def available(archive: Path = ARCHIVE) -> bool:
    """True when the shared archive is beside the checkout."""
    return Path(archive).is_file()


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles the official batches (dicts of bytes, lists and numpy arrays) and nothing else."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy", "ndarray"),
               ("numpy._core.multiarray", "_reconstruct"), ("numpy", "dtype"),
               ("_codecs", "encode")}  # bytes in protocol-2 pickles written by Python 3

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"{module}.{name} is not part of a CIFAR-10 batch")
        return super().find_class(module, name)


def _sorted_by_class(X, y):
    """Images grouped by class (stable): both archives give the same order of classes."""
    order = np.argsort(y, kind="stable")
    return np.ascontiguousarray(X[order]), y[order]


BATCH_FILES = {f"data_batch_{i}" for i in range(1, 6)} | {"test_batch", "batches.meta"}


def _decode(archive: Path):
    """Read the archive in one pass: the official pickled batches if it holds them, else the
    JPEGs under ``train/<class>/`` and ``test/<class>/``."""
    from PIL import Image

    batches = {}
    images = {"train": [], "test": []}
    labels = {"train": [], "test": []}
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar:
            parts = member.name.split("/")
            if not member.isfile():
                continue
            if parts[-1] in BATCH_FILES:
                batches[parts[-1]] = _ArrayUnpickler(tar.extractfile(member),
                                                     encoding="bytes").load()
            elif len(parts) == 3 and parts[0] in images:
                with Image.open(io.BytesIO(tar.extractfile(member).read())) as image:
                    images[parts[0]].append(np.asarray(image.convert("RGB")))
                labels[parts[0]].append(parts[1])
    return _from_python_batches(batches) if batches else _from_jpegs(images, labels)


def _from_python_batches(batches):
    """The lossless CIFAR-10 of ``cifar-10-python.tar.gz``: uint8 (N, 32, 32, 3), int labels."""
    classes = np.array([c.decode() for c in batches["batches.meta"][b"label_names"]])
    out = {"classes": classes}
    train = [batches[f"data_batch_{i}"] for i in range(1, 6)]
    for split, parts in (("train", train), ("test", [batches["test_batch"]])):
        X = np.concatenate([p[b"data"] for p in parts]).reshape(-1, 3, 32, 32)
        y = np.concatenate([p[b"labels"] for p in parts]).astype(np.int64)
        out[f"X_{split}"], out[f"y_{split}"] = _sorted_by_class(X.transpose(0, 2, 3, 1), y)
    return out


def _from_jpegs(images, labels):
    """The decoded JPEGs, labelled by their folder names in sorted order."""
    classes = sorted(set(labels["train"]))
    out = {"classes": np.array(classes)}
    for split in ("train", "test"):
        y = np.searchsorted(classes, np.array(labels[split]))
        out[f"X_{split}"], out[f"y_{split}"] = _sorted_by_class(np.stack(images[split]), y)
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
