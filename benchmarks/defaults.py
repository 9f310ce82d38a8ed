"""Choose CNNClassifier's defaults by measurement: accuracy over seeds and data sets.

Each candidate configuration trains the full pipeline (ImageReshaper/ImageNormalizer/
ImageAugmenter/CNNClassifier) on
  * sklearn digits (8x8, 25% stratified hold-out), and
  * a 5,000-image CIFAR-10 subset (32x32 RGB, tested on 2,000 test images), when the shared
    archive is present,
for seeds 0, 1, 2, and prints the mean and spread of test accuracy and the fit time.

Run: ``python benchmarks/defaults.py`` (about 35 minutes on 2 cores; ``--digits-only`` ~5 min).
"""

from __future__ import annotations

import argparse
import functools
import time

import cifar10_data
import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline

from sk_cnn import CNNClassifier, ImageAugmenter, ImageNormalizer, ImageReshaper

# Every candidate names all the parameters it varies, so the table stays valid when a default
# changes.
# The network and batch of the defaults until 2026-11-26, which the first rows ran.
_OLD = dict(conv_filters=(32, 64, 128), batch_size=128)
CANDIDATES = {
    "lesson plain: no BN, adam 1e-3": dict(**_OLD, batch_norm=False, lr=1e-3, lr_schedule=None,
                                           dropout=0.5),
    "BN, adam 1e-3": dict(**_OLD, batch_norm=True, lr=1e-3, lr_schedule=None, dropout=0.5),
    "BN, adam 2e-3": dict(**_OLD, batch_norm=True, lr=2e-3, lr_schedule=None, dropout=0.5),
    "BN, adam 5e-3": dict(**_OLD, batch_norm=True, lr=5e-3, lr_schedule=None, dropout=0.5),
    "BN, adam 2e-3, dropout 0.2": dict(**_OLD, batch_norm=True, lr=2e-3, lr_schedule=None,
                                       dropout=0.2),
    "BN, sgd 0.05 momentum 0.9": dict(**_OLD, batch_norm=True, optimizer="sgd", lr=0.05,
                                      lr_schedule=None, dropout=0.5),
    "BN, adam 2e-3, cosine, dropout 0.5": dict(**_OLD, batch_norm=True, lr=2e-3,
                                               lr_schedule="cosine", mixed_precision=None,
                                               dropout=0.5),
    "BN, adam 2e-3, cosine, bfloat16": dict(**_OLD, batch_norm=True, lr=2e-3,
                                            lr_schedule="cosine", mixed_precision="bfloat16",
                                            dropout=0.5),
}
# One change each from BN, adam 2e-3, cosine, dropout 0.5, batch 128 (the defaults until
# 2026-11-26), conv 32-64-128 3x3, relu, no weight decay or label smoothing: what each
# default rests on.
_BASE = dict(batch_norm=True, optimizer="adam", lr=2e-3, lr_schedule="cosine", dropout=0.5,
             batch_size=128, conv_filters=(32, 64, 128), kernel_size=3, activation="relu",
             weight_decay=0.0, label_smoothing=0.0, mixed_precision=None)
CANDIDATES.update({f"cosine, {name}": {**_BASE, **change} for name, change in {
    "adam 1e-3": dict(lr=1e-3),
    "adam 5e-3": dict(lr=5e-3),
    "dropout 0.2": dict(dropout=0.2),
    "dropout 0": dict(dropout=0.0),
    "batch 64": dict(batch_size=64),
    "batch 256": dict(batch_size=256),
    "conv 16-32-64": dict(conv_filters=(16, 32, 64)),
    "conv 32-64-128-256": dict(conv_filters=(32, 64, 128, 256)),
    "kernel 5": dict(kernel_size=5),
    "gelu": dict(activation="gelu"),
    "weight decay 5e-4": dict(weight_decay=5e-4),
    "label smoothing 0.1": dict(label_smoothing=0.1),
    "sgd 0.05 momentum 0.9": dict(optimizer="sgd", lr=0.05),
    "adamw 2e-3 decay 0.01": dict(optimizer="adamw", lr=2e-3, weight_decay=0.01),
    "rmsprop 1e-3": dict(optimizer="rmsprop", lr=1e-3),
    "dropout 0, conv 32-64-128-256": dict(dropout=0.0, conv_filters=(32, 64, 128, 256)),
}.items()})
# The second round: one change each from the first round's winner.
_SECOND = {**_BASE, "dropout": 0.0, "conv_filters": (32, 64, 128, 256)}
CANDIDATES.update({f"cosine, dropout 0, conv 32-64-128-256, {name}": {**_SECOND, **change}
                   for name, change in {
    "batch 64 (the default)": dict(batch_size=64),
    "kernel 5": dict(kernel_size=5),
}.items()})


def digits_task():
    X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)
    steps = [("reshape", ImageReshaper(image_shape=(8, 8))), ("norm", ImageNormalizer()),
             ("aug", ImageAugmenter(horizontal_flip=False, crop_padding=1))]
    return "digits", steps, (Xtr, ytr, Xte, yte)


def cifar_task(n_train=5000, n_test=2000):
    Xtr, ytr, Xte, yte, _ = cifar10_data.load_cifar10()
    Xtr, ytr = cifar10_data.stratified_subset(Xtr, ytr, n_train)
    Xte, yte = cifar10_data.stratified_subset(Xte, yte, n_test)
    steps = [("norm", ImageNormalizer()), ("aug", ImageAugmenter(crop_padding=4))]
    return f"cifar10 {n_train // 1000}k", steps, (Xtr, ytr, Xte, yte)


def run(task, params, seed, epochs):
    _, steps, (Xtr, ytr, Xte, yte) = task
    pipe = Pipeline(steps + [("cnn", CNNClassifier(max_epochs=epochs, random_state=seed,
                                                   verbose=0, **params))])
    start = time.perf_counter()
    pipe.fit(Xtr, ytr)
    seconds = time.perf_counter() - start
    return pipe.score(Xte, yte), seconds


def add_seed_arguments(parser):
    """``--seeds`` and ``--only`` (substrings of candidate names), for the tables below."""
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--only", nargs="*", help="substrings of candidate names to run")


def print_table_header(seeds, *columns):
    """The versions line and the header of a table whose rows :func:`print_seed_rows` prints."""
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, seeds {seeds}")
    header = [*columns, "configuration", "test accuracy mean", "min", "max", "fit s"]
    print("| " + " | ".join(header) + " |")
    print("|---" * len(header) + "|")


def print_seed_rows(cells, candidates, args, run):
    """One row per candidate whose name contains one of ``args.only`` (all when None): the
    ``cells`` first, then the name and accuracy over ``args.seeds`` (``run(params, seed)``
    gives ``(test accuracy, fit seconds)``)."""
    for name, params in candidates.items():
        if args.only and not any(s in name for s in args.only):
            continue
        results = [run(params, seed) for seed in args.seeds]
        acc = np.array([r[0] for r in results])
        seconds = np.mean([r[1] for r in results])
        print(f"| {' | '.join(map(str, cells))} | {name} | {acc.mean():.4f} | {acc.min():.4f} | "
              f"{acc.max():.4f} | {seconds:.1f} |", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--digits-only", action="store_true")
    add_seed_arguments(parser)
    args = parser.parse_args()
    tasks = [(digits_task(), [10, 20])]
    if not args.digits_only and cifar10_data.available():
        tasks.append((cifar_task(), [10]))
    print_table_header(args.seeds, "data set", "epochs")
    for task, epoch_list in tasks:
        for epochs in epoch_list:
            print_seed_rows([task[0], epochs], CANDIDATES, args,
                            functools.partial(run, task, epochs=epochs))


if __name__ == "__main__":
    main()
