"""RssAnon through the first batches of an out-of-core fit on a 200,000-image memory map.

Writes a (200,000, 96, 96, 3) uint8 ``.npy`` file (5.15 GiB; the same 1,000 random images
repeated) under ``--root``, then fits ``ImageNormalizer(mean=0.5, std=0.2) ->
ImageAugmenter(crop_padding=4) -> CNNClassifier(conv_filters=(8, 16), stride=2,
batch_size=256)`` on its memory map and prints the process's ``RssAnon`` every 20 batches, up
to ``--batches``. ``--trim-after-batch`` also calls glibc's ``malloc_trim(0)`` after every
training batch from the callback (what the estimator does itself since it calls
``release_heap_memory``; the option measured it before). Deletes the file at the end.

Run: ``PYTHONPATH=. python benchmarks/out_of_core_heap.py --batches 160`` (about 2 minutes on
2 cores); glibc's fixed threshold: ``MALLOC_MMAP_THRESHOLD_=1048576 PYTHONPATH=. python ...``.
"""

import argparse
import ctypes
import os
import shutil
import time

import numpy as np
import torch
from skorch.callbacks import Callback

from sk_cnn import CNNClassifier, ImageAugmenter, ImageNormalizer


def rss_anon_mib():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("RssAnon")) / 1024


class Report(Callback):
    def __init__(self, batches, trim):
        self.batches, self.trim, self.done, self.start = batches, trim, 0, time.perf_counter()

    def on_batch_end(self, net, training=None, **kwargs):
        if not training:
            return
        self.done += 1
        if self.trim:
            ctypes.CDLL(None).malloc_trim(0)
        if self.done % 20 == 0:
            print(f"batch {self.done}: RssAnon {rss_anon_mib():.0f} MiB "
                  f"({time.perf_counter() - self.start:.0f} s)", flush=True)
        if self.done >= self.batches:
            raise KeyboardInterrupt  # skorch ends the fit, keeping what was trained


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default="/tmp/sk_cnn_out_of_core_heap")
    parser.add_argument("--batches", type=int, default=160)
    parser.add_argument("--trim-after-batch", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(2)
    os.makedirs(args.root, exist_ok=True)
    path, n = os.path.join(args.root, "images.npy"), 200_000
    try:
        images = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(n, 96, 96, 3))
        block = np.random.default_rng(0).integers(0, 256, (1000, 96, 96, 3), dtype=np.uint8)
        for start in range(0, n, 1000):
            images[start:start + 1000] = block
        images.flush()
        del images
        X = np.load(path, mmap_mode="r")
        print(f"start: RssAnon {rss_anon_mib():.0f} MiB", flush=True)
        X = ImageNormalizer(mean=0.5, std=0.2).fit(X[:10]).transform(X)
        X = ImageAugmenter(crop_padding=4).fit_transform(X)
        clf = CNNClassifier(conv_filters=(8, 16), stride=2, batch_size=256, max_epochs=1,
                            validation_fraction=0.05, verbose=0,
                            callbacks=[Report(args.batches, args.trim_after_batch)])
        try:
            clf.fit(X, np.arange(n) % 10)
        except Warning:
            pass
    finally:
        shutil.rmtree(args.root, ignore_errors=True)


if __name__ == "__main__":
    import warnings
    warnings.simplefilter("ignore")
    main()
