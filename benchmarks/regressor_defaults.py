"""Defaults of CNNRegressor: dropout in the head and target standardization, across seeds.

Two regression tasks with real or realistic inputs, held-out R^2 (higher is better):

- digits ink: sklearn's 8x8 digits, target = 10 x mean intensity (an image-to-number mapping);
- digits ink x 1000 + 5000: the same target on another scale (what target scaling is for);
- signal amplitude: 1-D Gaussian noise signals (length 48), target = their standard deviation.

Each cell is the mean over the seeds of the held-out R^2 (minimum in brackets). Run:
``cd benchmarks && PYTHONPATH=.. python regressor_defaults.py`` (about a minute on 2 cores).
"""

from __future__ import annotations

import argparse
import itertools

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from sk_cnn import CNNRegressor


def tasks():
    X, _ = load_digits(return_X_y=True)
    X = X.reshape(-1, 8, 8) / 16
    ink = X.mean(axis=(1, 2)) * 10
    rng = np.random.default_rng(0)
    signals = rng.normal(size=(1000, 1, 48)).astype(np.float32)
    amplitude = rng.uniform(0.5, 3, 1000)
    signals *= amplitude[:, None, None]
    return {
        "digits ink": (X, ink, {}),
        "digits ink x1000+5000": (X, ink * 1000 + 5000, {}),
        "signal amplitude": (signals, amplitude, {"input_type": "signal"}),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    grid = list(itertools.product([0.0, 0.5], [True, False]))
    print(f"{args.epochs} epochs, conv_filters=(16, 32), seeds 0..{args.seeds - 1}\n")
    print("| task | " + " | ".join(f"dropout={d}, scale_target={s}" for d, s in grid) + " |")
    print("|---|" + "---|" * len(grid))
    for name, (X, y, extra) in tasks().items():
        X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25,
                                                            random_state=0)
        cells = []
        for dropout, scale in grid:
            scores = [CNNRegressor(conv_filters=(16, 32), max_epochs=args.epochs,
                                   dropout=dropout, scale_target=scale, random_state=seed,
                                   verbose=0, **extra).fit(X_train, y_train)
                      .score(X_test, y_test) for seed in range(args.seeds)]
            cells.append(f"{np.mean(scores):.3f} ({np.min(scores):.3f})")
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
