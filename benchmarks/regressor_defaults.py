"""Defaults of CNNRegressor: head dropout, target standardization and loss, across seeds.

Two regression tasks with real or realistic inputs, held-out R^2 (higher is better):

- digits ink: sklearn's 8x8 digits, target = 10 x mean intensity (an image-to-number mapping);
- digits ink x 1000 + 5000: the same target on another scale (what target scaling is for);
- signal amplitude: 1-D Gaussian noise signals (length 48), target = their standard deviation.

Each cell is the mean over the seeds of the held-out R^2 (minimum in brackets). Run:
``cd benchmarks && PYTHONPATH=.. python regressor_defaults.py`` (a few minutes on 2 cores;
``--epochs`` and ``--filters`` override the estimator's defaults).
"""

from __future__ import annotations

import argparse

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


# One change each from CNNRegressor's defaults (dropout 0, scale_target=True, criterion "mse").
CONFIGURATIONS = {
    "defaults": {},
    "dropout=0.5": {"dropout": 0.5},
    "scale_target=False": {"scale_target": False},
    'criterion="huber"': {"criterion": "huber"},
    'criterion="l1"': {"criterion": "l1"},
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=None,
                        help="max_epochs (default: the estimator's)")
    parser.add_argument("--filters", type=int, nargs="+", default=None,
                        help="conv_filters (default: the estimator's)")
    args = parser.parse_args()
    shared = {"verbose": 0}
    if args.epochs is not None:
        shared["max_epochs"] = args.epochs
    if args.filters is not None:
        shared["conv_filters"] = tuple(args.filters)
    defaults = CNNRegressor(**shared).get_params()
    print(f"CNNRegressor: max_epochs={defaults['max_epochs']}, "
          f"conv_filters={defaults['conv_filters']}, seeds 0..{args.seeds - 1}\n")
    print("| task | " + " | ".join(CONFIGURATIONS) + " |")
    print("|---|" + "---|" * len(CONFIGURATIONS))
    for name, (X, y, extra) in tasks().items():
        X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25,
                                                            random_state=0)
        cells = []
        for change in CONFIGURATIONS.values():
            scores = [CNNRegressor(**shared, **change, **extra, random_state=seed)
                      .fit(X_train, y_train).score(X_test, y_test)
                      for seed in range(args.seeds)]
            cells.append(f"{np.mean(scores):.3f} ({np.min(scores):.3f})")
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
