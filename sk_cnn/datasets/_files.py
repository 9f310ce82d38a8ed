"""Image files: class-per-folder image trees; and sklearn's digits as uint8 images."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable
from pathlib import Path

import numpy as np

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")


def _normalize_extensions(extensions) -> tuple[str, ...]:
    if isinstance(extensions, str):
        extensions = (extensions,)
    extensions = tuple(str(ext).lower() for ext in extensions)
    if not extensions:
        raise ValueError("extensions must name at least one file extension, e.g. ('.jpg',).")
    return tuple(ext if ext.startswith(".") else "." + ext for ext in extensions)


def find_images(root, extensions: Iterable[str] = IMAGE_EXTENSIONS) -> list[str]:
    """List the image files under a folder, recursively, in sorted order.

    Parameters
    ----------
    root : str or os.PathLike
        The folder.
    extensions : iterable of str, default=(".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")
        File name endings to keep (case-insensitive). Hidden files and folders (names starting
        with ".") are skipped.

    Returns
    -------
    paths : list of str
        The regular files (FIFOs, devices and sockets are left out), sorted by their path
        relative to ``root``; symbolic links are followed, except a link to a folder that
        contains it (a loop), which is skipped with a warning.
    """
    extensions = _normalize_extensions(extensions)
    root = os.fspath(root)
    found = []
    # The real paths of the folders walked through to each folder: a link back to one of
    # them, or to a folder that really contains the current one, would loop.
    ancestors = {root: ()}
    for folder, dirs, files in os.walk(root, followlinks=True):
        chain = ancestors.pop(folder, ()) + (os.path.realpath(folder),)
        kept = []
        for name in dirs:
            path = os.path.join(folder, name)
            if name.startswith("."):
                continue
            target = os.path.realpath(path)
            if target in chain or (chain[-1] + os.sep).startswith(target.rstrip(os.sep) + os.sep):
                warnings.warn(f"Skipped {path}: it links to a folder that contains it.",
                              UserWarning, stacklevel=2)
                continue
            kept.append(name)
            ancestors[path] = chain
        dirs[:] = kept
        relative = os.path.relpath(folder, root)
        for name in files:
            # Regular files (or links to them) only: reading a FIFO named 2.png would wait
            # forever.
            if (not name.startswith(".") and name.lower().endswith(extensions)
                    and os.path.isfile(os.path.join(folder, name))):
                found.append(os.path.normpath(os.path.join(relative, name)))
    return [os.path.join(root, rel) for rel in sorted(found, key=lambda p: p.split(os.sep))]


def load_image_folder(root, extensions: Iterable[str] = IMAGE_EXTENSIONS):
    """Paths and labels of a class-per-folder image tree (torchvision's ImageFolder layout).

    ``root/cat/001.jpg`` gets the label ``"cat"``; files deeper inside a class folder belong to
    that class too. Only paths are returned: decode them with :class:`sk_cnn.ImageLoader`
    (for example as the first step of a Pipeline).

    Parameters
    ----------
    root : str or os.PathLike
        Folder holding one sub-folder per class.
    extensions : iterable of str, default=(".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")
        File name endings of the images (case-insensitive); other files are ignored, as are
        hidden files and folders.

    Returns
    -------
    paths : ndarray of str, shape (n_samples,)
        The image files, ``root`` joined with their relative path.
    labels : ndarray of str, shape (n_samples,)
        The class (folder name) of each image.

    Raises
    ------
    FileNotFoundError
        When ``root`` is not a folder.
    ValueError
        When ``root`` has no class folder, or a class folder holds no image.

    Notes
    -----
    The order is deterministic: classes sorted by name, then files sorted by their path
    inside the class folder (the order of ``torchvision.datasets.ImageFolder``).

    Examples
    --------
    >>> import os, tempfile
    >>> with tempfile.TemporaryDirectory() as root:
    ...     for cls in ("dog", "cat"):
    ...         os.makedirs(os.path.join(root, cls))
    ...         open(os.path.join(root, cls, "1.png"), "wb").close()
    ...     paths, labels = load_image_folder(root)
    ...     relative = [os.path.relpath(path, root) for path in paths]
    >>> labels.tolist(), relative
    (['cat', 'dog'], ['cat/1.png', 'dog/1.png'])
    """
    root_path = Path(root)
    if not root_path.is_dir():
        raise FileNotFoundError(
            f"Image folder not found: '{root}' is not a directory. Expected one sub-folder per "
            f"class, e.g. {Path(root) / 'cat' / '001.jpg'}.")
    extensions = _normalize_extensions(extensions)
    classes = sorted(entry.name for entry in os.scandir(root_path)
                     if entry.is_dir() and not entry.name.startswith("."))
    if not classes:
        raise ValueError(
            f"'{root}' has no class sub-folders. Expected one sub-folder per class holding its "
            f"images, e.g. {root_path / 'cat' / '001.jpg'}.")
    paths, labels, empty = [], [], []
    for cls in classes:
        files = find_images(root_path / cls, extensions)
        if not files:
            empty.append(cls)
        paths.extend(files)
        labels.extend([cls] * len(files))
    if empty:
        raise ValueError(
            f"Class folder(s) {empty[:10]} in '{root}' hold no image file with an extension "
            f"among {list(extensions)}. Remove the folder(s) or pass other extensions=.")
    return np.array(paths), np.array(labels)


def load_digits_images():
    """scikit-learn's digits as uint8 8x8 grayscale images, the offline default data set.

    Returns
    -------
    images : ndarray of uint8, shape (1797, 8, 8)
        The digits, scaled from 0..16 to 0..255.
    labels : ndarray of int, shape (1797,)
        The digit (0 to 9) of each image.

    Examples
    --------
    >>> X, y = load_digits_images()
    >>> X.shape, X.dtype, int(X.max()), y[:5].tolist()
    ((1797, 8, 8), dtype('uint8'), 255, [0, 1, 2, 3, 4])
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = np.round(digits.images * (255 / 16)).astype(np.uint8)
    return images, digits.target
