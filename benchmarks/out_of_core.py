"""Training on images larger than memory: ImageLoader(cache_dir=...) against the in-memory path.

Generates ``--n-files`` 96x96 JPEGs under ``--root`` (10 classes: a coloured square or disk at a
random place on a noisy background; generated in 2 processes, kept between runs until the end),
then measures, each in its own subprocess (so one run's memory does not count in another's):

1. ``memory``: fit (``--memory-epochs`` epochs) and predict of
   ``Pipeline([ImageLoader(cache_dir=...), ImageNormalizer(), ImageAugmenter(),
   CNNClassifier(...)])`` on all files, with the peak anonymous resident memory (``RssAnon``
   of the process and any children, summed, sampled every 50 ms) against ``--budget-gib``.
2. ``subset``: the same pipeline with and without ``cache_dir`` on the first ``--subset``
   files (in the page cache: just written or read), ``--epochs`` epochs, scored on the next
   ``--test`` files: seconds per epoch (skorch's ``dur``, median), test accuracy (same seeds),
   and how long decoding the training files takes (what a loader that decodes every epoch
   would add to each epoch on these cores).

Run (about 15 minutes on 2 cores, 7 GB of disk):
``PYTHONPATH=. python benchmarks/out_of_core.py --root /tmp/sk_cnn_out_of_core``
(``--keep`` keeps the generated files and caches; they are deleted otherwise).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from multiprocessing import Pool

import numpy as np

SIDE = 96
N_CLASSES = 10
PALETTE = np.array([[230, 40, 40], [40, 200, 40], [40, 80, 230], [230, 210, 40],
                    [200, 40, 220]], dtype=np.int16)


def image_path(root, i):
    return os.path.join(root, "images", f"{i // 10000:03d}", f"{i:06d}.jpg")


def _generate(args):
    root, start, stop = args
    from PIL import Image

    yy, xx = np.mgrid[:SIDE, :SIDE]
    for i in range(start, stop):
        path = image_path(root, i)
        if os.path.exists(path):
            continue
        rng = np.random.default_rng(i)
        label = i % N_CLASSES
        image = rng.integers(0, 60, (SIDE, SIDE, 3), dtype=np.int16) + rng.integers(0, 100)
        radius = rng.integers(12, 24)
        cy, cx = rng.integers(radius, SIDE - radius, 2)
        if label < 5:
            inside = (abs(yy - cy) <= radius) & (abs(xx - cx) <= radius)
        else:
            inside = (yy - cy) ** 2 + (xx - cx) ** 2 <= radius ** 2
        colour = PALETTE[label % 5] + rng.integers(-30, 30, 3)
        image[inside] = colour + rng.integers(-20, 20, (int(inside.sum()), 3))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(path, quality=90)


def generate(root, n_files):
    chunks = [(root, s, min(s + 2000, n_files)) for s in range(0, n_files, 2000)]
    with Pool(2) as pool:
        pool.map(_generate, chunks)


def paths_and_labels(root, start, stop):
    return ([image_path(root, i) for i in range(start, stop)],
            np.arange(start, stop) % N_CLASSES)


# ---------------------------------------------------------------------- the measured processes
def _rss_anon_kib(pid):
    """RssAnon of pid and its descendants, in KiB."""
    total, pending = 0, [pid]
    while pending:
        pid = pending.pop()
        try:
            with open(f"/proc/{pid}/status") as status:
                total += next(int(line.split()[1]) for line in status
                              if line.startswith("RssAnon:"))
            for task in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{task}/children") as children:
                    pending += [int(child) for child in children.read().split()]
        except (OSError, StopIteration):
            pass
    return total


class PeakRssAnon:
    """The peak RssAnon of this process tree, sampled in a thread."""

    def __init__(self, every=0.05):
        self.every, self.peak_kib, self._stop = every, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            self.peak_kib = max(self.peak_kib, _rss_anon_kib(os.getpid()))
            self._stop.wait(self.every)

    def gib(self):
        self.peak_kib = max(self.peak_kib, _rss_anon_kib(os.getpid()))
        return self.peak_kib / 1024**2


def build_pipeline(cache_dir, epochs):
    from sklearn.pipeline import Pipeline

    from sk_cnn import CNNClassifier, ImageAugmenter, ImageLoader, ImageNormalizer

    return Pipeline([
        ("load", ImageLoader(n_jobs=2, cache_dir=cache_dir)),
        ("norm", ImageNormalizer()),
        ("aug", ImageAugmenter(crop_padding=4, random_state=0)),
        ("cnn", CNNClassifier(conv_filters=(8, 16), stride=2, batch_size=256,
                              max_epochs=epochs, validation_fraction=0.05, random_state=0,
                              verbose=0)),
    ])


def child_memory(args):
    peak = PeakRssAnon()
    import torch
    torch.set_num_threads(2)
    paths, y = paths_and_labels(args.root, 0, args.n_files)
    out = {"import_gib": peak.gib()}
    pipe = build_pipeline(os.path.join(args.root, "cache_all"), args.memory_epochs)
    start = time.perf_counter()
    images = pipe["load"].transform(paths)  # builds the cache: the decoding, timed apart
    out["decode_s"] = time.perf_counter() - start
    out["decoded_gib"] = images.nbytes / 1024**3
    del images
    start = time.perf_counter()
    pipe.fit(paths, y)
    out["fit_s"] = time.perf_counter() - start
    out["epoch_s"] = [row["dur"] for row in pipe["cnn"].history]
    out["fit_gib"] = peak.gib()
    start = time.perf_counter()
    predicted = pipe.predict(paths)
    out["predict_s"] = time.perf_counter() - start
    out["train_accuracy"] = float(np.mean(predicted == y))
    out["peak_gib"] = peak.gib()
    print(json.dumps(out))


def child_subset(args):
    peak = PeakRssAnon()
    import torch
    torch.set_num_threads(2)
    from sk_cnn import ImageLoader

    paths, y = paths_and_labels(args.root, 0, args.subset)
    test_paths, y_test = paths_and_labels(args.root, args.subset, args.subset + args.test)
    out = {}
    if args.path == "in-memory":
        cache_dir = None
        start = time.perf_counter()  # what decoding every epoch would cost on these cores
        ImageLoader(n_jobs=2).transform(paths)
        out["decode_s"] = time.perf_counter() - start
    else:
        cache_dir = os.path.join(args.root, "cache_subset")
    pipe = build_pipeline(cache_dir, args.epochs)
    start = time.perf_counter()
    pipe.fit(paths, y)
    out["fit_s"] = time.perf_counter() - start
    out["epoch_s"] = [row["dur"] for row in pipe["cnn"].history]
    out["test_accuracy"] = float(np.mean(pipe.predict(test_paths) == y_test))
    out["peak_gib"] = peak.gib()
    print(json.dumps(out))


def run_child(args, mode, *extra):
    command = [sys.executable, os.path.abspath(__file__), "--child", mode, "--root", args.root,
               "--n-files", str(args.n_files), "--subset", str(args.subset), "--test",
               str(args.test), "--epochs", str(args.epochs), "--memory-epochs",
               str(args.memory_epochs), *extra]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode:
        sys.exit(f"{mode} failed:\n{result.stderr[-4000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default="/tmp/sk_cnn_out_of_core",
                        help="folder of the generated JPEGs and the caches (deleted after)")
    parser.add_argument("--n-files", type=int, default=200_000)
    parser.add_argument("--subset", type=int, default=20_000)
    parser.add_argument("--test", type=int, default=5_000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--memory-epochs", type=int, default=1)
    parser.add_argument("--budget-gib", type=float, default=1.5)
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    parser.add_argument("--child", choices=["memory", "subset"], help=argparse.SUPPRESS)
    parser.add_argument("--path", choices=["in-memory", "cache"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "memory":
        return child_memory(args)
    if args.child == "subset":
        return child_subset(args)

    total = max(args.n_files, args.subset + args.test)
    start = time.perf_counter()
    generate(args.root, total)
    print(f"{total} JPEGs of {SIDE}x{SIDE} under {args.root}/images "
          f"({time.perf_counter() - start:.0f} s to generate or find)", flush=True)
    try:
        memory = run_child(args, "memory")
        print(f"\nAll {args.n_files} files, cache_dir: decoded {memory['decoded_gib']:.2f} GiB "
              f"({memory['decoded_gib'] / args.budget_gib:.1f}x the {args.budget_gib} GiB "
              f"budget) in {memory['decode_s']:.0f} s")
        epochs = ", ".join(f"{d:.0f}" for d in memory["epoch_s"])
        print(f"  fit {memory['fit_s']:.0f} s (epochs {epochs} s), "
              f"predict {memory['predict_s']:.0f} s, training accuracy "
              f"{memory['train_accuracy']:.3f}")
        print(f"  peak RssAnon: after import {memory['import_gib']:.2f} GiB, through fit "
              f"{memory['fit_gib']:.2f} GiB, through fit and predict {memory['peak_gib']:.2f} "
              f"GiB (budget {args.budget_gib} GiB: "
              f"{'within' if memory['peak_gib'] <= args.budget_gib else 'OVER'})", flush=True)
        rows = {path: run_child(args, "subset", "--path", path)
                for path in ("in-memory", "cache")}
        print(f"\nFirst {args.subset} files (in the page cache), {args.epochs} epochs, tested on "
              f"the next {args.test}:")
        print(f"{'path':<10} {'s/epoch':>8} {'images/s':>9} {'fit s':>6} {'test acc':>9} "
              f"{'peak RssAnon':>13}")
        median = {}
        for path, row in rows.items():
            median[path] = float(np.median(row["epoch_s"]))
            print(f"{path:<10} {median[path]:>8.1f} {args.subset / median[path]:>9.0f} "
                  f"{row['fit_s']:>6.0f} {row['test_accuracy']:>9.4f} "
                  f"{row['peak_gib']:>10.2f} GiB")
        decode = rows["in-memory"]["decode_s"]
        print(f"throughput of cache / in-memory: {median['in-memory'] / median['cache']:.2f}x; "
              f"decoding the {args.subset} training files once: {decode:.1f} s "
              f"({decode / median['in-memory']:.2f}x an in-memory epoch)")
    finally:
        if not args.keep:
            shutil.rmtree(args.root, ignore_errors=True)


if __name__ == "__main__":
    main()
