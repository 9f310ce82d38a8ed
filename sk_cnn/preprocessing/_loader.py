"""ImageLoader: a scikit-learn transformer from image file paths to uint8 image arrays."""

from __future__ import annotations

import hashlib
import math
import os
import stat
import tempfile
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from numbers import Integral

import numpy as np
from joblib import effective_n_jobs
from PIL import Image, ImageOps
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions

from ._set_output import ArrayOutputMixin

MODES = ("RGB", "L")
# Cache files are named CACHE_PREFIX + a digest of the paths, their sizes and times, mode, size.
CACHE_PREFIX = "sk_cnn-images-"
# Files per task of the thread pool: large enough to amortise the pool's overhead.
_CHUNK = 64


def check_size(size) -> tuple[int, int] | None:
    """``size`` as ``(H, W)`` of positive ints, or None."""
    if size is None:
        return None
    if isinstance(size, Integral) and not isinstance(size, bool):
        size = (size, size)
    try:
        height, width = size
        valid = all(isinstance(s, Integral) and not isinstance(s, bool) and s > 0 for s in size)
    except (TypeError, ValueError):
        valid = False
    if not valid:
        raise ValueError(
            f"size must be None, a positive int or a pair (height, width) of positive ints; "
            f"got {size!r}.")
    return int(height), int(width)


def check_paths(X) -> list:
    """Validate a 1-D collection of image paths and return it as a list.

    Parameters
    ----------
    X : list, tuple, ndarray or pandas Series of str or os.PathLike
        One path per sample; a 2-D array or DataFrame with a single column is accepted too.

    Returns
    -------
    paths : list
        The same paths, in order (the caller's object is not modified).

    Raises
    ------
    TypeError
        For a single path instead of a collection, or for entries that are not paths.
    ValueError
        For an empty collection or a 2-D input with more than one column.
    """
    if isinstance(X, (str, bytes, os.PathLike)):
        shown = repr(_plain_path(X))
        raise TypeError(
            f"ImageLoader expects a list of image paths, got a single path {shown}. "
            f"Wrap it in a list: [{shown}].")
    if not hasattr(X, "__len__") or not hasattr(X, "__iter__"):
        raise TypeError(
            f"ImageLoader expects a list, numpy array or pandas Series of image paths; got "
            f"{type(X).__name__}.")
    shape = getattr(X, "shape", None)
    if shape is not None and len(shape) == 2 and shape[1] == 1:
        X = np.asarray(X).ravel()
    elif shape is not None and len(shape) != 1:
        raise ValueError(
            f"ImageLoader expects a 1-D collection of image paths (one per sample); got an array "
            f"of shape {tuple(shape)}.")
    paths = list(X)
    if not paths:
        raise ValueError("ImageLoader got 0 image paths; it needs at least one.")
    for i, path in enumerate(paths):
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(
                f"ImageLoader expects image paths (str or pathlib.Path); entry {i} is "
                f"{path!r} of type {type(path).__name__}.")
    return paths


def _plain_path(path):
    """``path`` as a plain str (bytes stay bytes).

    numpy's ``str_`` (the entries of an array of paths, as ``load_image_folder`` returns) shows
    as ``np.str_('...')`` where a message uses repr, as Pillow's and ``OSError``'s do.
    """
    path = os.fspath(path)
    return str(path) if isinstance(path, str) else path


def _float_pixels(path):
    return (f"Image file '{path}' has 32-bit floating-point pixels (Pillow mode 'F'), which "
            f"ImageLoader cannot scale to 0-255 without knowing their range. Convert it to 8 or "
            f"16 bits (values in [0, 1]: np.round(a * 255).astype(np.uint8)), or decode the "
            f"files yourself and give the float arrays to the pipeline without ImageLoader.")


def _to_uint8_mode(image, mode):
    """Convert a Pillow image to mode "RGB" or "L" (16-bit and palette images included)."""
    if image.mode == mode:
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit (or int32) grayscale: scale 0..65535 to 0..255 instead of Pillow's clipping.
        values = np.asarray(image, dtype=np.float64) / 257.0
        image = Image.fromarray(np.clip(np.round(values), 0, 255).astype(np.uint8), mode="L")
    elif image.mode in ("P", "PA"):
        image = image.convert("RGBA")  # palette transparency is resolved through RGBA
    return image if image.mode == mode else image.convert(mode)


def read_image(path, mode: str = "RGB", size: tuple[int, int] | None = None) -> np.ndarray:
    """Decode one image file into a uint8 array.

    Parameters
    ----------
    path : str or os.PathLike
        The image file (any format Pillow reads: JPEG, PNG, BMP, GIF, WebP, TIFF, ...).
    mode : {"RGB", "L"}, default="RGB"
        Color mode of the result. Alpha channels are dropped; palette, grayscale, 16-bit and
        CMYK images are converted. EXIF orientation is applied. 32-bit floating-point images
        (Pillow mode "F") are refused: their range of values is unknown.
    size : tuple (height, width) or None, default=None
        Resize to this size (bilinear, antialiased; the aspect ratio is not kept).

    Returns
    -------
    image : ndarray of uint8, shape (H, W, 3) for "RGB" or (H, W) for "L"
        The pixels.

    Raises
    ------
    FileNotFoundError, PermissionError, IsADirectoryError
        When the file cannot be opened (the message names it).
    ValueError
        When the file is not a readable image (corrupt, truncated, unknown format), has
        floating-point pixels (Pillow mode "F"), or is no regular file (a FIFO, a device).
    """
    path = _plain_path(path)
    try:
        # Opening a FIFO (or a device) to read would wait forever: image files only.
        kind = os.stat(path).st_mode
    except OSError:
        kind = None  # Image.open reports the error
    if kind is not None and not (stat.S_ISREG(kind) or stat.S_ISDIR(kind)):
        raise ValueError(f"'{path}' is not a regular file (a FIFO, device or socket): "
                         f"ImageLoader reads image files only. Remove it from the list.")
    try:
        with Image.open(path) as image:
            # Mode "F" is known from the header: refused (below) before decoding.
            if image.mode != "F":
                return _decode(image, mode, size)
    except OSError as exc:
        if exc.errno is not None:  # the file could not be opened: not found, permission, ...
            raise type(exc)(exc.errno, f"Cannot open image file: {exc.strerror}", path) from exc
        raise ValueError(_unreadable(path, exc)) from exc
    except (ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise ValueError(_unreadable(path, exc)) from exc
    raise ValueError(_float_pixels(path))


def _decode(image, mode, size):
    """The pixels of an opened Pillow image, in ``mode`` and resized to ``size``."""
    if size is not None:
        # JPEG: decode at a reduced scale that is still >= size (2.6x faster for large
        # photos: benchmarks/cpu_checks.py jpeg),
        # in the file's own colours: asking for mode "L" here would switch to libjpeg's
        # grayscale, up to 11 levels away from the conversion below.
        image.draft(image.mode, (max(size), max(size)))
    image.load()
    ImageOps.exif_transpose(image, in_place=True)
    image = _to_uint8_mode(image, mode)
    if size is not None and image.size != (size[1], size[0]):
        image = image.resize((size[1], size[0]), Image.Resampling.BILINEAR)
    return np.asarray(image, dtype=np.uint8)


def _unreadable(path, exc):
    return (f"Cannot decode image file '{path}' ({type(exc).__name__}: {exc}). "
            f"Check that it is a complete, valid image, or remove it from the list.")


def _n_threads(n_jobs) -> int:
    # scikit-learn's convention: None means 1 unless a joblib.parallel_config says otherwise.
    return max(1, effective_n_jobs(n_jobs))


def load_images(paths: Sequence, mode: str = "RGB", size: tuple[int, int] | None = None,
                n_jobs: int | None = None, *, allocate=None) -> np.ndarray:
    """Decode image files into one uint8 array, in parallel threads.

    Parameters
    ----------
    paths : sequence of str or os.PathLike
        The files, one per image.
    mode : {"RGB", "L"}, default="RGB"
        Color mode, see :func:`read_image`.
    size : tuple (height, width) or None, default=None
        Resize every image to this size; None requires all images to have the same size.
    n_jobs : int or None, default=None
        Decoding threads, with scikit-learn's convention: None is 1 (the calling thread)
        unless a ``joblib.parallel_config`` sets another number, -1 means one per core.
    allocate : callable or None, default=None
        ``allocate(shape)`` returns the uint8 array to decode into (a memory map, for
        :class:`ImageLoader`'s ``cache_dir``); None allocates one in memory.

    Returns
    -------
    images : ndarray of uint8, shape (N, H, W, 3) for "RGB" or (N, H, W) for "L"
        The decoded images, written straight into one preallocated array.
    """
    first = read_image(paths[0], mode, size)
    shape = (len(paths),) + first.shape
    out = np.empty(shape, dtype=np.uint8) if allocate is None else allocate(shape)
    out[0] = first
    stop = threading.Event()

    def decode(start, stop_at):
        for i in range(start, stop_at):
            if stop.is_set():
                return
            image = read_image(paths[i], mode, size)
            if image.shape != first.shape:
                stop.set()
                raise ValueError(
                    f"Images have different sizes: '{_plain_path(paths[0])}' is "
                    f"{first.shape[0]}x{first.shape[1]} (height x width) but "
                    f"'{_plain_path(paths[i])}' is {image.shape[0]}x{image.shape[1]}. Pass "
                    f"size=(height, width) to ImageLoader to resize every image, for example "
                    f"size={first.shape[:2]}.")
            out[i] = image

    n_threads = min(_n_threads(n_jobs), math.ceil((len(paths) - 1) / _CHUNK))
    if n_threads <= 1:
        decode(1, len(paths))
        return out
    starts = range(1, len(paths), _CHUNK)
    with ThreadPoolExecutor(n_threads, thread_name_prefix="sk_cnn-decode") as pool:
        futures = [pool.submit(decode, s, min(s + _CHUNK, len(paths))) for s in starts]
        try:
            for future in futures:  # in file order: the first failing file is reported
                future.result()
        except BaseException:
            stop.set()
            raise
    return out


def cache_path(paths: Sequence, mode: str, size: tuple[int, int] | None, cache_dir) -> str:
    """The cache file of these decoded images: named after a digest of what decides them.

    The digest covers each file's absolute path, size in bytes and modification time (in
    nanoseconds), in order, and ``mode`` and ``size``: a file that is replaced, edited or
    touched gives another name, so a stale cache is never read.
    """
    digest = hashlib.sha256(repr((mode, size, len(paths))).encode())
    for path in paths:
        path = os.path.abspath(_plain_path(path))
        try:
            info = os.stat(path)
            signature = f"{info.st_size}:{info.st_mtime_ns}"
        except OSError:
            signature = "missing"  # decoding it raises the error that names the file
        digest.update(f"{path}\0{signature}\n".encode("utf-8", "surrogateescape"))
    return os.path.join(os.fspath(cache_dir), f"{CACHE_PREFIX}{digest.hexdigest()[:32]}.npy")


def cached_images(paths: Sequence, mode: str, size: tuple[int, int] | None, n_jobs,
                  cache_dir) -> np.memmap:
    """Decoded images as a read-only memory map of a ``.npy`` cache file, decoded at most once.

    A cache file (see :func:`cache_path`) that exists is mapped without decoding anything.
    Otherwise the files are decoded, in ``n_jobs`` threads, straight into a new memory-mapped
    file that is renamed into place when complete (processes filling the same cache at once
    each write their own file; the last rename wins, with the same content).
    """
    target = cache_path(paths, mode, size, cache_dir)
    try:
        return np.load(target, mmap_mode="r")
    except FileNotFoundError:
        pass
    os.makedirs(cache_dir, exist_ok=True)
    fd, partial = tempfile.mkstemp(dir=cache_dir, prefix=".partial-", suffix=".npy")
    os.close(fd)
    try:
        images = load_images(paths, mode, size, n_jobs, allocate=lambda shape: (
            np.lib.format.open_memmap(partial, mode="w+", dtype=np.uint8, shape=shape)))
        images.flush()
        del images
        os.replace(partial, target)
    except BaseException:
        try:
            os.remove(partial)
        except OSError:
            pass
        raise
    return np.load(target, mmap_mode="r")


class ImageLoader(ArrayOutputMixin, TransformerMixin, BaseEstimator):
    """Read image files (paths) into a uint8 image array, as the first step of a Pipeline.

    ``transform`` decodes every file with Pillow, in ``n_jobs`` threads, converts it to
    ``mode`` and resizes it to ``size``. The output stays uint8 (4x smaller than float32);
    :class:`ImageNormalizer` and :class:`CNNClassifier` accept it as is.

    Parameters
    ----------
    size : int, tuple (height, width) or None, default=None
        Resize every image to this size (bilinear, antialiased; the aspect ratio is not kept).
        None keeps the files' size, which must then be the same for all images.
    mode : {"RGB", "L"}, default="RGB"
        "RGB" gives ``(N, H, W, 3)``, "L" (grayscale) gives ``(N, H, W)``. Images in other
        modes (grayscale, RGBA, palette, 16-bit, CMYK) are converted; alpha is dropped.
        32-bit floating-point images (Pillow mode "F", e.g. scientific TIFFs) raise
        ``ValueError``: their range of values is unknown (Pillow's conversion would truncate
        values in [0, 1] to black). Convert them to 8 or 16 bits first, or decode them yourself
        and give the arrays to the pipeline without ImageLoader.
    n_jobs : int or None, default=None
        Decoding threads, with scikit-learn's convention: None is 1 (the calling thread)
        unless a ``joblib.parallel_config`` sets another number, -1 means one per core.
        Threads share the output array (no copying) and Pillow releases Python's GIL while it
        decodes, so they can help for large files on free cores; for tiny files (CIFAR's
        32x32 JPEGs) they were slower (benchmarks/README.md).
    cache_dir : str, os.PathLike or None, default=None
        Folder of a decoded cache, for data sets larger than memory. None decodes into memory
        on every ``transform``. A folder makes ``transform`` return a read-only
        ``numpy.memmap`` of a ``.npy`` file there (created if needed), decoded once and reused
        by every later ``transform`` of the same files (same paths, sizes and modification
        times, ``size`` and ``mode``): the epochs of a fit, ``predict``, and every candidate
        of a grid search read the decoded pixels from disk (through the operating system's
        page cache), never decoding a file again. A file that changes gets a new cache file;
        old ones are not deleted (remove the folder's ``sk_cnn-images-*.npy`` files to free
        the disk). :class:`ImageNormalizer` then leaves the normalization to the estimator's
        batches, and :class:`CNNClassifier` reads its batches from the map: the decoded data
        set is never held in memory. See the user guide's section on data larger than memory.

    See Also
    --------
    sk_cnn.datasets.load_image_folder : paths and labels of a class-per-folder tree.

    Notes
    -----
    The transformer is stateless: ``fit`` only validates the parameters and the paths, learns
    nothing, and ``transform`` also works unfitted (``requires_fit=False``).

    A missing file raises ``FileNotFoundError`` and a corrupt or truncated one ``ValueError``;
    both name the file, and no file is ever skipped. EXIF orientation is applied. JPEG files
    are decoded at a reduced scale when that is still at least ``size`` (Pillow's draft mode).

    Input is a 1-D list of paths, not a numeric array, so (like scikit-learn's text vectorizers)
    the estimator is tagged ``input_tags.string=True, two_d_array=False`` and scikit-learn's
    numeric estimator checks do not apply to it.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from PIL import Image
    >>> from sk_cnn import ImageLoader
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     paths = [os.path.join(folder, f"{i}.png") for i in range(3)]
    ...     for path in paths:
    ...         Image.fromarray(np.zeros((10, 20, 3), np.uint8)).save(path)
    ...     rgb = ImageLoader().fit_transform(paths)
    ...     gray = ImageLoader(size=(8, 8), mode="L").fit_transform(paths)
    >>> rgb.shape, rgb.dtype, gray.shape
    ((3, 10, 20, 3), dtype('uint8'), (3, 8, 8))
    """

    _parameter_constraints = {
        "size": [None, Interval(Integral, 1, None, closed="left"), tuple, list],
        "mode": [StrOptions(set(MODES))],
        "n_jobs": [Integral, None],
        "cache_dir": [None, str, os.PathLike],
    }

    def __init__(self, size: int | tuple[int, int] | None = None, mode: str = "RGB",
                 n_jobs: int | None = None, cache_dir: str | os.PathLike | None = None):
        self.size = size
        self.mode = mode
        self.n_jobs = n_jobs
        self.cache_dir = cache_dir

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Validate the parameters and the paths (nothing is decoded or learned).

        Parameters
        ----------
        X : list, ndarray or pandas Series of str or os.PathLike
            Image paths, one per sample.
        y : None
            Ignored.

        Returns
        -------
        self : ImageLoader
            The transformer.
        """
        check_size(self.size)
        check_paths(X)
        return self

    def transform(self, X) -> np.ndarray:
        """Decode the image files.

        Parameters
        ----------
        X : list, ndarray or pandas Series of str or os.PathLike
            Image paths, one per sample.

        Returns
        -------
        images : ndarray of uint8, shape (n_samples, H, W, 3) or (n_samples, H, W)
            The images, channels last, in the order of X; a read-only ``numpy.memmap`` of
            the cache file with ``cache_dir``.
        """
        self._validate_params()
        size = check_size(self.size)
        if self.cache_dir is not None:
            return cached_images(check_paths(X), self.mode, size, self.n_jobs, self.cache_dir)
        return load_images(check_paths(X), self.mode, size, self.n_jobs)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        tags.requires_fit = False
        tags.transformer_tags.preserves_dtype = []
        return tags
