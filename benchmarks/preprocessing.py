"""ImageNormalizer on CIFAR-10-sized uint8 data: sk_cnn's code against the plain numpy way.

On a GPU the whole 10-epoch CIFAR-10 fit takes a few seconds, so the CPU preprocessing before
it counts. This times, side by side in one run (median of 3), on the 50,000 training images
(``(N, 32, 32, 3)`` uint8, channels last):

- fit: per-channel mean and std. Plain numpy: float64 chunks reduced over the strided
  ``(N, H, W)`` axes. sk_cnn: chunks as ``(values, channels)`` matrices summed by
  matrix-vector products.
- transform to float16 (the fast recipe's) and float32. Plain numpy: float32 arithmetic on
  chunks. sk_cnn: one 256-entry lookup table per channel, computed with the same float32
  arithmetic, so the outputs are identical (checked).

Run: ``cd benchmarks && PYTHONPATH=.. python preprocessing.py`` (random images of the same
shape when the CIFAR-10 archive is absent).
"""

from __future__ import annotations

import statistics
import time

import cifar10_data
import numpy as np

from sk_cnn import ImageNormalizer

CHUNK = 4096


def strided_stats(X):
    """Per-channel mean and std of channels-last uint8 images, the plain numpy way."""
    total, total_sq = np.zeros(X.shape[-1]), np.zeros(X.shape[-1])
    for start in range(0, len(X), CHUNK):
        chunk = X[start:start + CHUNK].astype(np.float64) / 255
        total += chunk.sum(axis=(0, 1, 2))
        total_sq += np.square(chunk).sum(axis=(0, 1, 2))
    count = X.size / X.shape[-1]
    mean = total / count
    return mean, np.sqrt(total_sq / count - mean**2)


def arithmetic_transform(X, mean, std, dtype):
    """(X / 255 - mean) / std in float32 chunks, cast to dtype."""
    out = np.empty(X.shape, dtype)
    mean, std = mean.astype(np.float32), std.astype(np.float32)
    for start in range(0, len(X), CHUNK):
        chunk = X[start:start + CHUNK].astype(np.float32)
        out[start:start + CHUNK] = (chunk * np.float32(1 / 255) - mean) / std
    return out


def median_seconds(function, repeats=3):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main():
    if cifar10_data.available() or cifar10_data.CACHE.is_file():
        X = cifar10_data.load_cifar10()[0]
        source = "CIFAR-10 training images"
    else:
        X = np.random.default_rng(0).integers(0, 256, (50000, 32, 32, 3), dtype=np.uint8)
        source = "random images (CIFAR-10 archive not found)"
    print(f"{source}: {X.shape} {X.dtype}")
    print("| step | plain numpy s | sk_cnn s | ratio | same result |")
    print("|---|---|---|---|---|")
    plain_s, (mean, std) = median_seconds(lambda: strided_stats(X))
    ours_s, normalizer = median_seconds(lambda: ImageNormalizer().fit(X))
    same = np.allclose(normalizer.mean_, mean, rtol=1e-10) and np.allclose(
        normalizer.std_, std, rtol=1e-10)
    print(f"| fit (mean, std) | {plain_s:.3f} | {ours_s:.3f} | {plain_s / ours_s:.1f}x | {same} |")
    for dtype in ("float16", "float32"):
        normalizer.set_params(dtype=dtype)
        plain_s, expected = median_seconds(
            lambda d=dtype: arithmetic_transform(X, normalizer.mean_, normalizer.std_, d))
        ours_s, result = median_seconds(lambda: normalizer.transform(X))
        same = np.array_equal(np.asarray(result), expected)
        print(f"| transform to {dtype} | {plain_s:.3f} | {ours_s:.3f} | "
              f"{plain_s / ours_s:.1f}x | {same} |")


if __name__ == "__main__":
    main()
