"""benchmarks/cifar10_data.py reads the official lossless CIFAR-10 layout (built here, tiny)."""

import io
import pickle
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import cifar10_data  # noqa: E402

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
BATCHES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]


def _write_archive(path, members):
    with tarfile.open(path, "w:gz") as tar:
        for name, obj in members.items():
            data = pickle.dumps(obj, protocol=2)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(cifar10_data, "CACHE_DIR", tmp_path / "cache")
    return tmp_path / "cache"


def test_reads_the_official_python_batches(tmp_path, cache_dir):
    rng = np.random.default_rng(0)
    batches = {name: {b"data": rng.integers(0, 256, (4, 3072), dtype=np.uint8),
                      b"labels": [int(v) for v in rng.integers(0, 10, 4)]} for name in BATCHES}
    archive = tmp_path / "cifar-10-python.tar.gz"
    _write_archive(archive, {"batches.meta": {b"label_names": [c.encode() for c in CLASSES]},
                             **batches})
    X_train, y_train, X_test, y_test, classes = cifar10_data.load_cifar10(archive)
    assert X_train.shape == (20, 32, 32, 3) and X_test.shape == (4, 32, 32, 3)
    assert X_train.dtype == np.uint8 and list(classes) == CLASSES
    # Rows are channel planes (1024 red, 1024 green, 1024 blue); images come grouped by class.
    test = batches["test_batch"]
    order = np.argsort(test[b"labels"], kind="stable")
    np.testing.assert_array_equal(y_test, np.array(test[b"labels"])[order])
    np.testing.assert_array_equal(X_test, test[b"data"][order].reshape(-1, 3, 32, 32)
                                  .transpose(0, 2, 3, 1))
    assert np.all(np.diff(y_train) >= 0)
    assert (cache_dir / "cifar-10-python.npz").is_file()
    again = cifar10_data.load_cifar10(archive)  # from the cache
    np.testing.assert_array_equal(again[0], X_train)


class _Payload:
    def __reduce__(self):
        return (print, ("not data",))


def test_refuses_pickles_that_are_not_arrays(tmp_path, cache_dir):
    archive = tmp_path / "cifar-10-python.tar.gz"
    _write_archive(archive, {"batches.meta": _Payload(), **dict.fromkeys(BATCHES, _Payload())})
    with pytest.raises(pickle.UnpicklingError, match="print is not part of a CIFAR-10 batch"):
        cifar10_data.load_cifar10(archive)
    assert not cache_dir.exists()
