"""fetch_cifar10: torchvision's download (from a server on 127.0.0.1 here), and local copies
in the official layout or as image folders, read without running anything."""

import os
import pickle
import tarfile

import numpy as np
import pytest
from PIL import Image

from sk_cnn.datasets import fetch_cifar10
from sk_cnn.exceptions import DownloadError

CLASSES = ["airplane", "automobile"]


def _official_batches(folder, per_batch=4):
    """A tiny cifar-10-batches-py folder: 5 training batches, a test batch, the meta file."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    arrays = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, size=(per_batch, 3 * 32 * 32), dtype=np.uint8)
        labels = [i % 2 for i in range(per_batch)]
        (folder / name).write_bytes(pickle.dumps({b"data": data, b"labels": labels}, protocol=2))
        arrays[name] = (data, labels)
    (folder / "batches.meta").write_bytes(
        pickle.dumps({b"label_names": [c.encode() for c in CLASSES]}, protocol=2))
    return arrays


def _image_tree(root, per_class=3, size=32):
    rng = np.random.default_rng(1)
    for subset in ("train", "test"):
        for cls in CLASSES:
            (root / subset / cls).mkdir(parents=True)
            for i in range(per_class):
                pixels = rng.integers(0, 256, size=(size, size, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(root / subset / cls / f"{i}.png")


def _tar(folder, archive):
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname=folder.name)
    return archive


def test_official_layout_is_read_losslessly_as_folder_and_archive(tmp_path):
    arrays = _official_batches(tmp_path / "cifar-10-batches-py")
    data, labels = arrays["test_batch"]
    expected = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    for source in (tmp_path, tmp_path / "cifar-10-batches-py",
                   _tar(tmp_path / "cifar-10-batches-py", tmp_path / "cifar-10-python.tar.gz")):
        X, y = fetch_cifar10("test", source=source)
        np.testing.assert_array_equal(X, expected)
        assert y.tolist() == [CLASSES[i] for i in labels]
    X, y = fetch_cifar10("train", source=tmp_path)
    assert X.shape == (20, 32, 32, 3) and X.dtype == np.uint8


def test_image_folders_and_their_archive_give_the_same_images(tmp_path):
    _image_tree(tmp_path / "cifar10")
    X, y = fetch_cifar10("train", source=tmp_path / "cifar10")
    assert X.shape == (6, 32, 32, 3) and y.tolist() == ["airplane"] * 3 + ["automobile"] * 3
    np.testing.assert_array_equal(
        X[0], np.asarray(Image.open(tmp_path / "cifar10" / "train" / "airplane" / "0.png")))
    X_tar, y_tar = fetch_cifar10("train", source=_tar(tmp_path / "cifar10", tmp_path / "c.tgz"))
    np.testing.assert_array_equal(X_tar, X)
    np.testing.assert_array_equal(y_tar, y)


def test_a_subset_is_class_balanced_and_seeded(tmp_path):
    _image_tree(tmp_path, per_class=10)
    X, y = fetch_cifar10("test", source=tmp_path, n_samples=6, random_state=0)
    assert X.shape[0] == 6 and sorted(y.tolist()) == ["airplane"] * 3 + ["automobile"] * 3
    X_again, _ = fetch_cifar10("test", source=tmp_path, n_samples=6, random_state=0)
    np.testing.assert_array_equal(X, X_again)


def test_a_crafted_batch_runs_nothing(tmp_path):
    _official_batches(tmp_path / "batches")
    marker = tmp_path / "ran"

    class Exploit:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    (tmp_path / "batches" / "test_batch").write_bytes(pickle.dumps({b"data": Exploit()}))
    with pytest.raises(pickle.UnpicklingError, match="not part of a CIFAR-10 batch"):
        fetch_cifar10("test", source=tmp_path / "batches")
    assert not marker.exists()


def test_wrong_sources_get_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        fetch_cifar10(source=tmp_path / "missing")
    with pytest.raises(ValueError, match="is not a copy of CIFAR-10"):
        fetch_cifar10(source=tmp_path)
    _image_tree(tmp_path / "big", per_class=1, size=64)
    with pytest.raises(ValueError, match="is 64x64; CIFAR-10 images are 32x32"):
        fetch_cifar10(source=tmp_path / "big")
    with pytest.raises(ValueError, match="subset must be 'train' or 'test'"):
        fetch_cifar10("validation", source=tmp_path)


def test_download_goes_through_torchvision_and_refuses_a_corrupt_archive(file_server,
                                                                        monkeypatch, tmp_path):
    # Not the official archive, so torchvision's MD5 check refuses it, each attempt; the
    # corrupt file is removed.
    monkeypatch.setenv("SK_CNN_DOWNLOAD_MIRROR", file_server.url)
    _official_batches(tmp_path / "src" / "cifar-10-batches-py")
    archive = _tar(tmp_path / "src" / "cifar-10-batches-py", tmp_path / "a.tar.gz")
    file_server.files["cifar-10-python.tar.gz"] = archive.read_bytes()
    home = tmp_path / "home"
    with pytest.raises(DownloadError, match=r"(?s)CIFAR-10.*3 attempts.*corrupted"):
        fetch_cifar10("test", data_home=home)
    # torchvision asks once for redirects, then for the file, on each attempt.
    assert set(file_server.requests) == {"cifar-10-python.tar.gz"}
    assert not (home / "cifar10" / "cifar-10-python.tar.gz").exists()


def test_no_download_offline_or_when_told_not_to(file_server, monkeypatch, tmp_path):
    monkeypatch.setenv("SK_CNN_DOWNLOAD_MIRROR", file_server.url)
    with pytest.raises(FileNotFoundError, match="download_if_missing=False"):
        fetch_cifar10(data_home=tmp_path, download_if_missing=False)
    monkeypatch.setenv("SK_CNN_OFFLINE", "1")
    with pytest.raises(FileNotFoundError, match=r"SK_CNN_OFFLINE is set.*cifar-10-python"):
        fetch_cifar10(data_home=tmp_path)
    assert file_server.requests == []
