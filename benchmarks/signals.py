"""1-D signals on real UCR/UEA data: sk_cnn beside published deep classifiers and baselines.

The data sets ship inside aeon's wheel (no download): install the extra with
``pip install -e ".[timeseries]"``. For each data set the script fits sk_cnn's pipeline
(ImageNormalizer -> ImageAugmenter -> CNNClassifier, ``input_type="signal"``) for several seeds
on the official train split and reports test accuracy (mean and standard deviation) and fit
seconds, beside a 1-nearest-neighbour (Euclidean) and aeon's MiniRocket classifier run in the
same script, and beside the published accuracy of FCN, ResNet and InceptionTime, which are
QUOTED, not measured here:

- FCN, ResNet: mean test accuracy over 10 runs, Fawaz et al. 2019, "Deep learning for time
  series classification: a review" (github.com/hfawaz/dl-4-tsc, README table, UCR 2015 archive).
- InceptionTime: Fawaz et al. 2020 (github.com/hfawaz/InceptionTime,
  results-InceptionTime-85.csv, UCR 85-data-set archive, ensemble of 5).

Covid3Month (extrinsic regression) reports the RMSE of CNNRegressor beside a mean predictor and
a 1-nearest-neighbour regressor, all measured here.

Run: ``cd benchmarks && PYTHONPATH=.. python signals.py`` (a few minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from sklearn.dummy import DummyRegressor
from sklearn.metrics import accuracy_score, root_mean_squared_error
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.pipeline import Pipeline

from sk_cnn import CNNClassifier, CNNRegressor, ImageAugmenter, ImageNormalizer

# Published test accuracy (%), quoted: (FCN, ResNet, InceptionTime); see the module docstring.
PUBLISHED = {
    "GunPoint": (100.0, 99.1, 100.0),
    "ItalyPowerDemand": (96.1, 96.3, 96.8),
    "ArrowHead": (84.3, 84.5, 82.9),
}
CLASSIFICATION = ("GunPoint", "ItalyPowerDemand", "ArrowHead", "BasicMotions")


def signal_pipeline(estimator, seed, **params):
    """The pipeline the benchmark fits: per-channel normalization, signal augmentation, CNN."""
    settings = dict(conv_filters=(64, 128, 128), kernel_size=7, batch_size=16, max_epochs=150,
                    lr_schedule="cosine", validation_fraction=0, input_type="signal",
                    random_state=seed, verbose=0)
    return Pipeline([
        ("norm", ImageNormalizer(input_type="signal")),
        ("aug", ImageAugmenter(horizontal_flip=False, crop_padding=0, noise=0.05,
                               scaling=0.1)),
        ("cnn", estimator(**{**settings, **params})),
    ])


def load(name, kind="classification"):
    from aeon.datasets import load_classification, load_regression

    loader = load_classification if kind == "classification" else load_regression
    X_train, y_train = loader(name, split="train")
    X_test, y_test = loader(name, split="test")
    return (X_train.astype(np.float32), y_train, X_test.astype(np.float32), y_test)


def _fit_timed(estimator, X, y):
    start = time.perf_counter()
    estimator.fit(X, y)
    return estimator, time.perf_counter() - start


def classification_rows(name, seeds, params):
    X_train, y_train, X_test, y_test = load(name)
    scores, seconds = [], []
    for seed in seeds:
        pipe, took = _fit_timed(signal_pipeline(CNNClassifier, seed, **params), X_train, y_train)
        scores.append(accuracy_score(y_test, pipe.predict(X_test)) * 100)
        seconds.append(took)
    flat_train, flat_test = X_train.reshape(len(X_train), -1), X_test.reshape(len(X_test), -1)
    nn1 = KNeighborsClassifier(1).fit(flat_train, y_train)
    baselines = {"1-NN": accuracy_score(y_test, nn1.predict(flat_test)) * 100}
    try:
        from aeon.classification.convolution_based import MiniRocketClassifier

        rocket = MiniRocketClassifier(random_state=0).fit(X_train, y_train)
        baselines["MiniRocket"] = accuracy_score(y_test, rocket.predict(X_test)) * 100
    except ImportError:  # older aeon
        baselines["MiniRocket"] = float("nan")
    published = PUBLISHED.get(name, (float("nan"),) * 3)
    print(f"| {name} | {X_train.shape} | {np.mean(scores):.1f} ± {np.std(scores):.1f} | "
          f"{np.mean(seconds):.0f} | {baselines['1-NN']:.1f} | {baselines['MiniRocket']:.1f} | "
          + " | ".join("-" if np.isnan(p) else f"{p:.1f}" for p in published) + " |",
          flush=True)


def regression_rows(name, seeds, params):
    X_train, y_train, X_test, y_test = load(name, "regression")
    rmse, seconds = [], []
    for seed in seeds:
        pipe, took = _fit_timed(signal_pipeline(CNNRegressor, seed, **params), X_train, y_train)
        rmse.append(root_mean_squared_error(y_test, pipe.predict(X_test)))
        seconds.append(took)
    flat_train, flat_test = X_train.reshape(len(X_train), -1), X_test.reshape(len(X_test), -1)
    mean = root_mean_squared_error(y_test, DummyRegressor().fit(flat_train, y_train)
                                   .predict(flat_test))
    nn1 = root_mean_squared_error(y_test, KNeighborsRegressor(1).fit(flat_train, y_train)
                                  .predict(flat_test))
    print(f"| {name} | {X_train.shape} | {np.mean(rmse):.4f} ± {np.std(rmse):.4f} | "
          f"{np.mean(seconds):.0f} | {mean:.4f} | {nn1:.4f} |", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--datasets", nargs="+", default=list(CLASSIFICATION))
    parser.add_argument("--epochs", type=int, default=150)
    parser.add_argument("--no-regression", action="store_true")
    args = parser.parse_args()
    seeds = range(args.seeds)
    params = {"max_epochs": args.epochs}
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, seeds {list(seeds)}, "
          f"{args.epochs} epochs")
    print("\n| data set | train shape | sk_cnn test acc. % (measured) | fit s | 1-NN % "
          "(measured) | MiniRocket % (measured) | FCN % (quoted) | ResNet % (quoted) | "
          "InceptionTime % (quoted) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in args.datasets:
        classification_rows(name, seeds, params)
    if not args.no_regression:
        print("\n| data set | train shape | CNNRegressor test RMSE (measured) | fit s | "
              "mean predictor RMSE | 1-NN RMSE |")
        print("|---|---|---|---|---|---|")
        regression_rows("Covid3Month", seeds, params)


if __name__ == "__main__":
    main()
