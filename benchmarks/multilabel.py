"""Multi-label classification: one network with a sigmoid per label against scikit-learn's
OneVsRestClassifier of one network per label.

The task: which digits appear in a 16x16 image tiling 2 or 3 of sklearn's 8x8 digits (a
2x2 grid, the empty cells black); 10 labels. Training images are tiled from one half of
the digits, test images from the other half, so no test digit was seen in training. Both
models are the same CNNClassifier (the default network, ``--epochs`` epochs); the
one-vs-rest model trains 10 of them, each on one label's 0/1 column. Printed per seed and
as the mean: macro F1, samples F1, subset accuracy (every label right) and the fit time.

Run: ``cd benchmarks && PYTHONPATH=.. python multilabel.py`` (``--seeds``, ``--epochs``,
``--train``, ``--test``).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split
from sklearn.multiclass import OneVsRestClassifier

from sk_cnn import CNNClassifier


def tiled_digits(images, labels, n, rng):
    """``n`` 16x16 images of 2 or 3 digits in the cells of a 2x2 grid, and their labels as
    an (n, 10) indicator matrix (a digit shown twice is one label)."""
    X = np.zeros((n, 16, 16), dtype=np.float32)
    Y = np.zeros((n, 10), dtype=np.int64)
    for i in range(n):
        cells = rng.choice(4, size=rng.integers(2, 4), replace=False)
        for cell in cells:
            k = rng.integers(len(images))
            row, col = divmod(int(cell), 2)
            X[i, 8 * row:8 * row + 8, 8 * col:8 * col + 8] = images[k]
            Y[i, labels[k]] = 1
    return X, Y


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--train", type=int, default=2000)
    parser.add_argument("--test", type=int, default=1000)
    args = parser.parse_args()
    digits, labels = load_digits(return_X_y=True)
    digits = digits.reshape(-1, 8, 8) / 16
    results = {"one network, sigmoid per label": [], "OneVsRestClassifier (10 networks)": []}
    for seed in args.seeds:
        rng = np.random.default_rng(seed)
        d_train, d_test, l_train, l_test = train_test_split(
            digits, labels, test_size=0.5, stratify=labels, random_state=seed)
        X_train, Y_train = tiled_digits(d_train, l_train, args.train, rng)
        X_test, Y_test = tiled_digits(d_test, l_test, args.test, rng)
        cnn = CNNClassifier(max_epochs=args.epochs, verbose=0, random_state=seed)
        for name, model in zip(results, (cnn, OneVsRestClassifier(cnn))):
            start = time.perf_counter()
            model.fit(X_train, Y_train)
            seconds = time.perf_counter() - start
            Y_pred = model.predict(X_test)
            row = (f1_score(Y_test, Y_pred, average="macro"),
                   f1_score(Y_test, Y_pred, average="samples"),
                   accuracy_score(Y_test, Y_pred), seconds)
            results[name].append(row)
            print(f"seed {seed}  {name:36s} macro F1 {row[0]:.4f}  samples F1 {row[1]:.4f}  "
                  f"subset accuracy {row[2]:.4f}  fit {row[3]:.1f} s", flush=True)
    print(f"\nmean over seeds {args.seeds}, {args.train} training / {args.test} test images, "
          f"{args.epochs} epochs")
    print("| model | macro F1 | samples F1 | subset accuracy | fit s |")
    print("|---|---|---|---|---|")
    for name, rows in results.items():
        mean = np.mean(rows, axis=0)
        print(f"| {name} | {mean[0]:.4f} | {mean[1]:.4f} | {mean[2]:.4f} | {mean[3]:.1f} |")


if __name__ == "__main__":
    main()
