"""GridSearchCV on the digits grid with n_jobs=1 and n_jobs=2, timed side by side.

The README's grid (dropout 0.0/0.5 x optimizer adam/sgd, 3 folds, 10 epochs) over the digits
pipeline. joblib's loky workers cap torch at cores // n_jobs threads each. Also times one fit
(2/3 of digits, as in a fold) with 1 and 2 torch threads, and reads the seconds per fit that
GridSearchCV recorded (``mean_fit_time``): when one fit at 2 threads already uses the second
core, two 1-thread workers can gain at most 2 x (fit at 2 threads) / (fit at 1 thread).

Run: ``cd benchmarks && PYTHONPATH=.. python grid_search_scaling.py`` (about 1 minute).
"""

from __future__ import annotations

import time

import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline

from sk_cnn import CNNClassifier, ImageAugmenter, ImageNormalizer, ImageReshaper


def main():
    X, y = load_digits(return_X_y=True)
    pipe = Pipeline([("reshape", ImageReshaper(image_shape=(8, 8))), ("norm", ImageNormalizer()),
                     ("aug", ImageAugmenter(horizontal_flip=False, crop_padding=1)),
                     ("cnn", CNNClassifier(max_epochs=10, random_state=0, verbose=0))])
    threads = torch.get_num_threads()
    single = {}
    for n_threads in (2, 1, 2, 1):
        torch.set_num_threads(n_threads)
        start = time.perf_counter()
        pipe.fit(X[:1198], y[:1198])
        single[n_threads] = min(single.get(n_threads, 1e9), time.perf_counter() - start)
    torch.set_num_threads(threads)
    print(f"one fit: {single[2]:.2f} s with 2 torch threads, {single[1]:.2f} s with 1 "
          f"({single[1] / single[2]:.2f}x)")
    grid = {"cnn__dropout": [0.0, 0.5], "cnn__optimizer": ["adam", "sgd"]}
    seconds, fit_seconds = {}, {}
    for n_jobs in (1, 2, 1, 2):  # twice each, interleaved; the faster run counts
        start = time.perf_counter()
        search = GridSearchCV(pipe, grid, cv=3, n_jobs=n_jobs, refit=False).fit(X, y)
        elapsed = time.perf_counter() - start
        # Seconds per fit as the workers saw them (the main process for n_jobs=1).
        per_fit = float(search.cv_results_["mean_fit_time"].mean())
        if elapsed < seconds.get(n_jobs, float("inf")):
            seconds[n_jobs], fit_seconds[n_jobs] = elapsed, per_fit
        print(f"n_jobs={n_jobs}: {elapsed:.1f} s, {per_fit:.2f} s per fit", flush=True)
    # Two 1-thread workers can at best be 2 * (fit at 2 threads) / (fit at 1 thread) faster.
    ceiling = 2 * fit_seconds[1] / fit_seconds[2]
    print(f"\ntorch {torch.__version__}, {torch.get_num_threads()} threads in the main process")
    print("| n_jobs=1 s | n_jobs=2 s | speed-up | s per fit, n_jobs=1 (2 threads) | "
          "s per fit, n_jobs=2 (1 thread each) | ceiling 2 x fit ratio |")
    print("|---|---|---|---|---|---|")
    print(f"| {seconds[1]:.1f} | {seconds[2]:.1f} | {seconds[1] / seconds[2]:.2f} | "
          f"{fit_seconds[1]:.2f} | {fit_seconds[2]:.2f} | {ceiling:.2f} |")


if __name__ == "__main__":
    main()
