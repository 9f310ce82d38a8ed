"""CIFAR-10 through the estimator API: test accuracy against minutes of fitting, and memory.

ImageNormalizer -> ImageAugmenter(flips, crop_padding=4) -> CNNClassifier on the full 50,000
training images of the team's JPEG copy (uint8 arrays from ``cifar10_data.py``), evaluated on
the 10,000 test images after every epoch. The evaluation time is excluded from the fit minutes.
Prints the accuracy table, images/s and the peak resident memory of the whole process.

Run: ``cd benchmarks && PYTHONPATH=.. python cifar10.py --epochs 10`` (about 1 minute per epoch
of the default network on 2 cores). Options choose the network (``--filters``) and TTA.
"""

from __future__ import annotations

import argparse
import resource
import time

import cifar10_data
import numpy as np
import torch
from sklearn.pipeline import Pipeline
from skorch.callbacks import Callback

from sk_cnn import CNNClassifier, ImageAugmenter, ImageNormalizer


class TestAccuracy(Callback):
    """Evaluate the pipeline's test accuracy after every epoch, timing fit and evaluation."""

    def __init__(self, pipe, X_test, y_test):
        self.pipe, self.X_test, self.y_test = pipe, X_test, y_test

    def on_train_begin(self, net, **kwargs):
        self.start_, self.eval_seconds_, self.rows_ = time.perf_counter(), 0.0, []

    def on_epoch_end(self, net, **kwargs):
        begin = time.perf_counter()
        X = self.pipe["norm"].transform(self.X_test)
        accuracy = float(np.mean(net.predict(X) == self.y_test))
        self.eval_seconds_ += time.perf_counter() - begin
        minutes = (time.perf_counter() - self.start_ - self.eval_seconds_) / 60
        self.rows_.append((len(net.history), minutes, accuracy))
        print(f"| {len(net.history)} | {minutes:.2f} | {accuracy:.4f} |", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--filters", type=int, nargs="+", default=[32, 64, 128])
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--dropout", type=float, default=0.5)
    parser.add_argument("--tta", choices=["flip"], default=None)
    args = parser.parse_args()
    if not cifar10_data.available():
        raise SystemExit(f"CIFAR-10 archive not found at {cifar10_data.ARCHIVE}")
    X_train, y_train, X_test, y_test, _ = cifar10_data.load_cifar10()
    cnn = CNNClassifier(conv_filters=tuple(args.filters), max_epochs=args.epochs,
                        batch_size=args.batch_size, dropout=args.dropout, tta=args.tta,
                        validation_fraction=0, random_state=0, verbose=0)
    pipe = Pipeline([("norm", ImageNormalizer()), ("aug", ImageAugmenter(crop_padding=4)),
                     ("cnn", cnn)])
    scorer = TestAccuracy(pipe, X_test, y_test)
    cnn.set_params(callbacks=[("test_accuracy", scorer)])
    print(f"CIFAR-10 {len(X_train)} train / {len(X_test)} test, filters {args.filters}, batch "
          f"{args.batch_size}, {args.epochs} epochs, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")
    print("| epoch | fit minutes | test accuracy |")
    print("|---|---|---|")
    start = time.perf_counter()
    pipe.fit(X_train, y_train)
    total = time.perf_counter() - start - scorer.eval_seconds_
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # KiB -> GiB
    print(f"\nfit {total / 60:.2f} min ({len(X_train) * args.epochs / total:.0f} images/s), "
          f"final test accuracy {scorer.rows_[-1][2]:.4f}, peak RSS {peak:.2f} GiB "
          f"(uint8 training set: {X_train.nbytes / 1024**3:.2f} GiB)")


if __name__ == "__main__":
    main()
