"""CIFAR-10 from JPEG files: ImageLoader -> ImageNormalizer -> ImageAugmenter -> CNNClassifier.

The team's archive ``../shared/datasets/cifar10-jpeg.tar.gz`` (``train/<class>/*.jpg``: 50,000,
``test/<class>/*.jpg``: 10,000) is extracted once into a cache folder; the pipeline then trains
from the file paths, as a user's image folders would. Prints test accuracy, the wall time of
loading (decoding) and of fitting, images per second and the peak resident memory
(``resource.getrusage``). ``--decode-bench`` instead times ImageLoader with ``n_jobs=1`` and
``n_jobs=2`` on 5,000 training JPEGs.

Run from the repository root (the machine is shared: use a subset)::

    PYTHONPATH=. python benchmarks/cifar10_loader.py --n-train 5000 --epochs 2
    PYTHONPATH=. python benchmarks/cifar10_loader.py --decode-bench
    PYTHONPATH=. python benchmarks/cifar10_loader.py --decode-bench --upscale 256

Skips with a message when the archive is absent.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline

from sk_cnn import CNNClassifier, ImageAugmenter, ImageLoader, ImageNormalizer
from sk_cnn.datasets import load_image_folder

ARCHIVE = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "cifar10-jpeg.tar.gz"
CACHE = Path.home() / ".cache" / "sk_cnn" / "cifar10-jpeg"


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def extract(archive: Path, cache: Path) -> Path:
    """Extract the archive into ``cache`` once (atomically: a finished copy has a marker)."""
    if (cache / ".complete").is_file():
        return cache
    cache.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix=cache.name + ".", dir=cache.parent))
    try:
        with tarfile.open(archive, "r:gz") as tar:
            tar.extractall(tmp, filter="data")
        (tmp / ".complete").touch()
        if (cache / ".complete").is_file():  # another process finished first
            return cache
        if cache.exists():  # an interrupted earlier copy
            shutil.rmtree(cache)
        os.replace(tmp, cache)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"extracted {archive.name} to {cache} in {time.perf_counter() - start:.1f} s")
    return cache


def subset(paths, labels, n, seed):
    """A stratified subset of n images (all of them when n is None or too large)."""
    if n is None or n >= len(paths):
        return paths, labels
    paths, _, labels, _ = train_test_split(paths, labels, train_size=n, stratify=labels,
                                           random_state=seed)
    return paths, labels


def upscaled_copies(paths, root: Path, side: int) -> list[str]:
    """JPEG copies of the images enlarged to side x side (written once into the cache)."""
    from PIL import Image

    folder = root / f"upscaled-{side}"
    copies = [str(folder / Path(p).relative_to(root)) for p in paths]
    for path, copy in zip(paths, copies):
        if not os.path.exists(copy):
            os.makedirs(os.path.dirname(copy), exist_ok=True)
            with Image.open(path) as image:
                image.resize((side, side), Image.Resampling.BICUBIC).save(copy, quality=90)
    return copies


def decode_bench(root: Path, n: int, seed: int, upscale: int | None, repeats: int = 3) -> None:
    """Time ImageLoader(n_jobs=1) against ImageLoader(n_jobs=2) on n training JPEGs."""
    paths, labels = subset(*load_image_folder(root / "train"), n, seed)
    what = "CIFAR-10 JPEGs (32x32)"
    if upscale:
        paths = upscaled_copies(paths, root, upscale)
        what = f"CIFAR-10 images enlarged to {upscale}x{upscale} and saved as JPEG (quality 90)"
    for path in paths:  # read once so that both runs find the files in the page cache
        Path(path).read_bytes()
    best = {}
    outputs = {}
    for _ in range(repeats):
        for n_jobs in (1, 2):
            start = time.perf_counter()
            outputs[n_jobs] = ImageLoader(n_jobs=n_jobs).transform(paths)
            elapsed = time.perf_counter() - start
            best[n_jobs] = min(best.get(n_jobs, np.inf), elapsed)
    assert np.array_equal(outputs[1], outputs[2])
    print(f"decode {len(paths)} {what}, best of {repeats}, "
          f"load average {os.getloadavg()[0]:.1f}:")
    for n_jobs, seconds in best.items():
        print(f"  n_jobs={n_jobs}: {seconds:.2f} s, {len(paths) / seconds:.0f} images/s")
    print(f"  speed-up n_jobs=2 / n_jobs=1: {best[1] / best[2]:.2f}x")


def train_bench(root: Path, args) -> None:
    train_paths, y_train = subset(*load_image_folder(root / "train"), args.n_train, args.seed)
    test_paths, y_test = subset(*load_image_folder(root / "test"), args.n_test, args.seed)
    steps = [("load", ImageLoader(n_jobs=args.n_jobs))]
    if args.normalize:
        steps.append(("norm", ImageNormalizer()))
    steps += [("aug", ImageAugmenter(horizontal_flip=True, crop_padding=4)),
              ("cnn", CNNClassifier(max_epochs=args.epochs, random_state=args.seed,
                                    verbose=int(args.verbose)))]
    pipe = Pipeline(steps)
    print(f"CIFAR-10 JPEG: {len(train_paths)} training and {len(test_paths)} test images, "
          f"{args.epochs} epoch(s), steps {[name for name, _ in steps]}, "
          f"load average {os.getloadavg()[0]:.1f}")
    rss_start = peak_rss_mb()

    # Same as pipe.fit(train_paths, y_train), timed in two parts: the slice shares the steps.
    start = time.perf_counter()
    X_train = pipe["load"].fit_transform(train_paths)
    load_s = time.perf_counter() - start
    rss_load = peak_rss_mb()
    start = time.perf_counter()
    pipe[1:].fit(X_train, y_train)
    fit_s = time.perf_counter() - start
    rss_fit = peak_rss_mb()
    del X_train

    start = time.perf_counter()
    accuracy = pipe.score(test_paths, y_test)  # decodes the test files, then predicts
    test_s = time.perf_counter() - start
    n = len(train_paths)
    print(f"test accuracy:          {accuracy:.4f}")
    print(f"loading (decode train): {load_s:.1f} s, {n / load_s:.0f} images/s")
    print(f"fitting:                {fit_s:.1f} s, {n * args.epochs / fit_s:.0f} images/s "
          f"(training images x epochs, incl. the 10% validation split)")
    print(f"test (decode + predict): {test_s:.1f} s, {len(test_paths) / test_s:.0f} images/s")
    print(f"peak RSS MiB: start {rss_start:.0f}, after loading {rss_load:.0f}, after fitting "
          f"{rss_fit:.0f}, after testing {peak_rss_mb():.0f} (uint8 training images: "
          f"{n * 32 * 32 * 3 / 2**20:.0f} MiB)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-train", type=int, default=5000, help="training images (default "
                        "5000; 0 for all 50,000)")
    parser.add_argument("--n-test", type=int, default=0, help="test images (0: all 10,000)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--n-jobs", type=int, default=None, help="ImageLoader threads")
    parser.add_argument("--no-normalize", dest="normalize", action="store_false",
                        help="leave ImageNormalizer out (no float32 copy of the data set)")
    parser.add_argument("--decode-bench", action="store_true",
                        help="only time ImageLoader n_jobs=1 vs 2 on 5,000 JPEGs")
    parser.add_argument("--upscale", type=int, metavar="SIDE",
                        help="with --decode-bench: time photo-sized files instead, the same "
                        "images enlarged to SIDE x SIDE and re-encoded (written once)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", type=Path, default=CACHE)
    parser.add_argument("--archive", type=Path, default=ARCHIVE)
    parser.add_argument("--verbose", action="store_true", help="print skorch's epoch table")
    args = parser.parse_args(argv)
    if not args.archive.is_file():
        print(f"skipped: the CIFAR-10 archive {args.archive} is not there (this benchmark "
              f"needs the team's shared data sets beside the repository).")
        return 0
    args.n_train = args.n_train or None
    args.n_test = args.n_test or None
    root = extract(args.archive, args.cache)
    if args.decode_bench:
        decode_bench(root, 5000, args.seed, args.upscale)
    else:
        train_bench(root, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
