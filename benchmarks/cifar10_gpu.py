"""CIFAR-10 on one GPU through the estimator API: seconds of fit and test accuracy per run.

The pipeline of ``cifar10.py --recipe airbench`` (ImageNormalizer(float16) ->
ImageAugmenter(alternating flip, 2-pixel reflect translate) -> CNNClassifier(**airbench_params()))
with ``device="cuda"``: the training set is copied to the GPU once per fit, batches are sliced,
augmented and trained there. The classifier is ``CNNClassifier(**airbench_params(device="cuda"))``,
the recipe's GPU settings: airbench94's block widths 64/256/256 and batches of 1024 (lr scaled
linearly), 10 epochs, ``mixed_precision="auto"`` (bfloat16 on NVIDIA Ampere or newer), the
filters trained with Muon at a learning rate of 0.12 (the CPU recipe's 0.05 is tuned for
batches of 256; on an H100, 0.12 reached 0.9098 against 0.9078 for airbench94_muon's 0.24 and
0.9053 for SGD everywhere (means of three seeds), ``--optimizer sgd``, the optimizer of the
earlier GPU rows in benchmarks/README.md). The options of ``cifar10.py`` change any of it.

Each run is a whole ``pipe.fit`` on the 50,000 training images, timed from the call to its
return (``torch.cuda.synchronize`` before and after; normalization on the CPU included; the
column "of which epochs s" sums skorch's epoch durations, the rest is preprocessing and
set-up), then the 10,000 test images are predicted without TTA, with flip, and with flip +
translate (the recipe's TTA). The first run also pays CUDA's and cuDNN's start-up: it is
printed, and the summary line covers the later runs only.

Run (on a machine with a GPU): ``cd benchmarks && PYTHONPATH=.. python cifar10_gpu.py --runs 4``.
``SK_CNN_CIFAR10`` names the archive when ``../shared`` is not beside the checkout, or the
official lossless ``cifar-10-python.tar.gz`` (what airbench's 94% refers to; see cifar10_data.py).
"""

from __future__ import annotations

import argparse
import statistics
import time

import cifar10_data
import torch
from cifar10 import add_pipeline_arguments, build_pipeline, tta_accuracies

from sk_cnn.training import has_fast_bfloat16


def synchronize():
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def timed_fit(pipe, X, y):
    """Seconds that ``pipe.fit(X, y)`` takes, GPU work included."""
    synchronize()
    start = time.perf_counter()
    pipe.fit(X, y)
    synchronize()
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_pipeline_arguments(parser)
    parser.set_defaults(recipe="airbench")
    parser.add_argument("--runs", type=int, default=4, help="fits, seeds 0, 1, ...")
    parser.add_argument("--device", default="cuda", help="cpu: a smoke test of this script")
    parser.add_argument("--n-train", type=int, default=None,
                        help="n training images drawn at random, seed 0 (smoke tests)")
    parser.add_argument("--no-cudnn-benchmark", action="store_true",
                        help="leave torch.backends.cudnn.benchmark off")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("No CUDA device: this benchmark measures GPU training.")
    if not cifar10_data.available():
        raise SystemExit(f"CIFAR-10 archive not found at {cifar10_data.ARCHIVE}")
    torch.backends.cudnn.benchmark = not args.no_cudnn_benchmark
    X_train, y_train, X_test, y_test, _ = cifar10_data.load_cifar10()
    if args.n_train is not None:
        X_train, y_train = cifar10_data.random_subset(X_train, y_train, args.n_train)
    name = torch.cuda.get_device_name() if args.device == "cuda" else args.device
    print(f"{name}, torch {torch.__version__}, cudnn.benchmark "
          f"{torch.backends.cudnn.benchmark}; CIFAR-10 {len(X_train)} train / {len(X_test)} test")
    print(f"mixed_precision='auto' computes in "
          f"{'bfloat16' if has_fast_bfloat16(torch.device(args.device)) else 'float32'} here")
    cnn_params = build_pipeline(args, recipe_device="cuda")["cnn"].get_params()
    print(f"optimizer {cnn_params['optimizer']} (lr {cnn_params['lr']:.4g}"
          + (f", filters' muon_lr {cnn_params['optimizer__muon_lr']}"
             if "optimizer__muon_lr" in cnn_params else "") + ")")
    print("| run | seed | epochs | filters | batch | mixed precision | fit s | of which epochs s "
          "| no TTA | flip | flip + translate |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    rows = []
    for run in range(args.runs):
        args.seed = run
        pipe = build_pipeline(args, recipe_device="cuda")
        pipe["cnn"].set_params(device=args.device)
        seconds = timed_fit(pipe, X_train, y_train)
        acc = {tta: accuracy for tta, (accuracy, _) in
               tta_accuracies(pipe, X_test, y_test).items()}
        cnn = pipe["cnn"]
        # skorch's per-epoch durations: the rest of the fit is preprocessing and set-up.
        epoch_seconds = sum(cnn.history_[:, "dur"])
        label = f"{run}{' (first: CUDA start-up)' if run == 0 else ''}"
        print(f"| {label} | {run} | {cnn.max_epochs} | {list(cnn.conv_filters)} | "
              f"{cnn.batch_size} | {cnn.mixed_precision} | {seconds:.2f} | {epoch_seconds:.2f} | "
              f"{acc[None]:.4f} | "
              f"{acc['flip']:.4f} | {acc['flip_translate']:.4f} |", flush=True)
        rows.append((seconds, acc["flip_translate"]))
    later = rows[1:] or rows
    print(f"\nruns after the first: fit {statistics.mean(s for s, _ in later):.2f} s mean, "
          f"test accuracy (flip + translate TTA) {statistics.mean(a for _, a in later):.4f} "
          f"mean, {min(a for _, a in later):.4f} min")
    if args.device == "cuda":
        print(f"peak GPU memory {torch.cuda.max_memory_allocated() / 1024**3:.2f} GiB")


if __name__ == "__main__":
    main()
