"""CIFAR-10 through torchvision's download, or from a local copy, as uint8 arrays."""

from __future__ import annotations

import io
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np

from .._download import download
from ..exceptions import DownloadError

SUBSETS = ("train", "test")
SIDE = 32
BATCHES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}


class _BatchUnpickler(pickle.Unpickler):
    """Unpickles CIFAR-10's batches (dicts of bytes, lists and arrays) and nothing else.

    torchvision reads them with ``pickle.load``, safe for the files it checked against their
    MD5; a local copy is unchecked, so it is read with this instead: nothing in it can run.
    """

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray",
                                                            "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"{module}.{name} is not part of a CIFAR-10 batch")
        return super().find_class(module, name)


def fetch_cifar10(subset: str = "train", *, data_home=None, source=None,
                  download_if_missing: bool = True, n_samples: int | None = None,
                  random_state: int | None = 0):
    """Load CIFAR-10 (32x32 colour images of 10 classes), downloading it on first use.

    Without ``source``, the data come from ``torchvision.datasets.CIFAR10(download=True)``:
    the 170 MB archive is downloaded once into ``data_home`` (MD5-checked, with a progress
    bar) and read from there afterwards, offline. The environment variables
    ``SK_CNN_OFFLINE=1`` (never download) and ``SK_CNN_DOWNLOAD_MIRROR`` (another server
    with the same file names) apply; a dropped or truncated download is tried again.

    Parameters
    ----------
    subset : {"train", "test"}, default="train"
        The 50,000 training or the 10,000 test images.
    data_home : str or path, default=None
        Where the download is kept, in a ``cifar10`` folder: by default scikit-learn's data
        home (``~/scikit_learn_data``, or ``SCIKIT_LEARN_DATA``).
    source : str or path, default=None
        A local copy to read instead, nothing downloaded: the official
        ``cifar-10-python.tar.gz`` or its extracted ``cifar-10-batches-py`` folder; or a
        folder, or a ``.tar.gz`` of one, holding ``train/<class>/*.jpg`` and
        ``test/<class>/*.jpg`` (any image format Pillow reads; each 32x32).
    download_if_missing : bool, default=True
        Download when the data are not in ``data_home``; False raises an error instead.
    n_samples : int, default=None
        A class-balanced random subset of this size (stratified), or all images.
    random_state : int, RandomState instance or None, default=0
        Draws the subset.

    Returns
    -------
    images : ndarray of uint8, shape (n_samples, 32, 32, 3)
        The images, channels last.
    labels : ndarray of str, shape (n_samples,)
        Each image's class name ("airplane", "automobile", ..., "truck").

    Raises
    ------
    FileNotFoundError
        When the data are missing and may not be downloaded, or ``source`` does not exist.
    sk_cnn.exceptions.DownloadError
        When the download failed after its retries, or the file failed its MD5 check (the
        corrupt file is removed).
    ValueError
        When ``source`` holds neither layout, or an image that is not 32x32.

    Examples
    --------
    >>> from sk_cnn.datasets import fetch_cifar10
    >>> X, y = fetch_cifar10("test", n_samples=1000)  # doctest: +SKIP
    >>> X.shape, X.dtype, sorted(set(y))[:2]  # doctest: +SKIP
    ((1000, 32, 32, 3), dtype('uint8'), ['airplane', 'automobile'])
    """
    if subset not in SUBSETS:
        raise ValueError(f"subset must be 'train' or 'test', got {subset!r}.")
    if source is not None:
        images, labels = _read_local(Path(os.fspath(source)), subset)
    else:
        images, labels = _read_torchvision(_data_home(data_home), subset, download_if_missing)
    if n_samples is not None and n_samples < len(labels):
        from sklearn.model_selection import train_test_split

        keep, _ = train_test_split(np.arange(len(labels)), train_size=n_samples,
                                   stratify=labels, random_state=random_state)
        images = images[keep] if isinstance(images, np.ndarray) else [images[i] for i in keep]
        labels = labels[keep]
    if not isinstance(images, np.ndarray):  # encoded files: only the subset is decoded
        images = np.stack([_decode(data, name) for name, data in images])
    return images, labels


def _data_home(data_home) -> Path:
    from sklearn.datasets import get_data_home

    return Path(get_data_home(data_home)) / "cifar10"


def _read_torchvision(root: Path, subset: str, download_if_missing: bool):
    from torchvision.datasets import CIFAR10

    train = subset == "train"
    try:
        dataset = CIFAR10(root, train=train, download=False)
    except RuntimeError:  # torchvision: "Dataset not found or corrupted"
        if not download_if_missing:
            raise FileNotFoundError(
                f"CIFAR-10 is not in {root} and download_if_missing=False. Allow the download, "
                f"or give a local copy as source=.") from None
        archive = root / CIFAR10.filename
        try:
            dataset = download(
                "CIFAR-10", CIFAR10.url,
                lambda url: type("CIFAR10", (CIFAR10,), {"url": url})(root, train=train,
                                                                       download=True),
                path=archive)
        except DownloadError:
            archive.unlink(missing_ok=True)  # a corrupt or cut-off file helps nobody
            raise
    return np.asarray(dataset.data), np.asarray(dataset.classes)[dataset.targets]


def _read_local(source: Path, subset: str):
    """Arrays from the official batches; (name, bytes) pairs of image files, decoded later."""
    if source.is_dir():
        batches = next((folder for folder in (source, source / "cifar-10-batches-py")
                        if (folder / "batches.meta").is_file()), None)
        if batches is not None:
            return _from_batches({name: (batches / name).read_bytes()
                                  for name in BATCHES[subset] + ["batches.meta"]}, subset)
        if (source / subset).is_dir():
            return _from_image_folder(source / subset)
    elif source.is_file() and tarfile.is_tarfile(source):
        return _from_tar(source, subset)
    elif not source.exists():
        raise FileNotFoundError(f"CIFAR-10 source {source} does not exist.")
    raise ValueError(
        f"{source} is not a copy of CIFAR-10: give cifar-10-python.tar.gz, its "
        f"cifar-10-batches-py folder, or a folder (or .tar.gz of one) holding "
        f"{subset}/<class>/*.jpg.")


def _from_batches(files: dict, subset: str):
    """The official pickled batches (bytes by file name), read without running anything."""
    read = {name: _BatchUnpickler(io.BytesIO(data), encoding="bytes").load()
            for name, data in files.items()}
    classes = np.array([c.decode() for c in read["batches.meta"][b"label_names"]])
    parts = [read[name] for name in BATCHES[subset]]
    images = np.concatenate([p[b"data"] for p in parts]).reshape(-1, 3, SIDE, SIDE)
    labels = np.concatenate([p[b"labels"] for p in parts]).astype(np.int64)
    return np.ascontiguousarray(images.transpose(0, 2, 3, 1)), classes[labels]


def _decode(data: bytes, name: str) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        if image.size != (SIDE, SIDE):  # checked before decoding anything large
            raise ValueError(f"{name} is {image.size[0]}x{image.size[1]}; CIFAR-10 images "
                             f"are {SIDE}x{SIDE}.")
        return np.asarray(image.convert("RGB"))


def _from_image_folder(folder: Path):
    from ._files import load_image_folder

    paths, labels = load_image_folder(folder)
    return [(path, Path(path).read_bytes()) for path in paths], labels


def _from_tar(archive: Path, subset: str):
    """Read the official batches or the ``<subset>/<class>/<image>`` members in one pass."""
    batches, images = {}, []
    with tarfile.open(archive) as tar:
        for member in tar:
            if not member.isfile():
                continue
            parts = member.name.split("/")
            if parts[-1] in BATCHES[subset] + ["batches.meta"]:
                batches[parts[-1]] = tar.extractfile(member).read()
            elif len(parts) >= 3 and parts[-3] == subset and not parts[-1].startswith("."):
                images.append((member.name, parts[-2], tar.extractfile(member).read()))
    if batches:
        missing = sorted(set(BATCHES[subset] + ["batches.meta"]) - set(batches))
        if missing:
            raise ValueError(f"{archive} holds only part of CIFAR-10's batches: {missing} "
                             f"are missing.")
        return _from_batches(batches, subset)
    if not images:
        raise ValueError(
            f"{archive} holds neither CIFAR-10's batches nor {subset}/<class>/<image> files.")
    images.sort(key=lambda item: (item[1], item[0]))  # by class, then name: a fixed order
    return ([(name, data) for name, _, data in images],
            np.array([label for _, label, _ in images]))
