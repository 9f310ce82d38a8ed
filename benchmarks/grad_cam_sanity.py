"""The model-randomization sanity check of Grad-CAM (Adebayo et al., "Sanity Checks for Saliency
Maps", 2018): how alike the maps of a trained network and of the same network with
re-initialized weights are.

For each data set and training seed: train the pipeline of ``examples/plot_grad_cam.py``
(ImageNormalizer, ImageAugmenter, CNNClassifier with conv 32-64-128, 10 epochs), compute
``sk_cnn.inspection.grad_cam`` maps of the predicted class on the test images, then again for
deep copies whose weights were drawn anew (every layer's ``reset_parameters``, three seeds),
and print the Spearman rank correlation of each image's two maps, averaged over the images.
For comparison it also prints the correlation with the maps of the network trained with the
next seed. A method that ignores the weights scores 1; images whose map is constant (no
evidence anywhere) are left out of the mean and counted.

Data: sklearn digits (8x8, 25% stratified hold-out) and a 5,000-image class-balanced CIFAR-10
subset tested on 1,000 test images (when the shared archive is present, read by
``cifar10_data.py``).

Run: ``cd benchmarks && PYTHONPATH=.. nice python grad_cam_sanity.py`` (``--digits-only``).
"""

from __future__ import annotations

import argparse
import copy
import time

import cifar10_data
import numpy as np
import torch
from scipy.stats import spearmanr
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline

from sk_cnn import CNNClassifier, ImageAugmenter, ImageNormalizer
from sk_cnn.datasets import load_digits_images
from sk_cnn.inspection import grad_cam
from sk_cnn.inspection._grad_cam import explain

REINIT_SEEDS = (0, 1, 2)


def digits_task():
    X, y = load_digits_images()
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)
    return "digits", False, (Xtr, ytr, Xte, yte)


def cifar_task(n_train=5000, n_test=1000):
    Xtr, ytr, Xte, yte, _ = cifar10_data.load_cifar10()
    Xtr, ytr = cifar10_data.stratified_subset(Xtr, ytr, n_train)
    Xte, yte = cifar10_data.stratified_subset(Xte, yte, n_test)
    return f"cifar10 {n_train // 1000}k", True, (Xtr, ytr, Xte, yte)


def fit(task, seed):
    _, flips, (Xtr, ytr, _, _) = task
    pipe = Pipeline([
        ("norm", ImageNormalizer()),
        ("aug", ImageAugmenter(horizontal_flip=flips, crop_padding=2)),
        ("cnn", CNNClassifier(conv_filters=(32, 64, 128), max_epochs=10, random_state=seed,
                              verbose=0)),
    ])
    return pipe.fit(Xtr, ytr)


def reinitialized(pipe, seed):
    """A deep copy of ``pipe`` whose network's weights are drawn anew."""
    other = copy.deepcopy(pipe)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        for module in other[-1].module_.modules():
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()
    return other


def rank_correlation(maps_a, maps_b):
    """Mean over images of the Spearman correlation of their two maps, and how many images
    were left out (a constant map has no ranks)."""
    kept = [(a.ravel(), b.ravel()) for a, b in zip(maps_a, maps_b)
            if np.ptp(a) > 0 and np.ptp(b) > 0]
    rho = [spearmanr(a, b).statistic for a, b in kept]
    return float(np.mean(rho)), len(maps_a) - len(kept)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--digits-only", action="store_true")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    args = parser.parse_args()
    tasks = [digits_task()]
    if not args.digits_only and cifar10_data.available():
        tasks.append(cifar_task())
    print("| data set | seed | test accuracy | layer | fitted vs re-initialized: mean "
          "(3 seeds: min, max) | constant maps | fitted vs next training seed | fit s |")
    print("|---|---|---|---|---|---|---|---|")
    for task in tasks:
        name, _, (_, _, Xte, yte) = task
        seeds = list(args.seeds)
        pipes, times = {}, {}
        for seed in seeds + [seeds[-1] + 1]:
            start = time.perf_counter()
            pipes[seed] = fit(task, seed)
            times[seed] = time.perf_counter() - start
        for seed in seeds:
            pipe = pipes[seed]
            result = explain(pipe, Xte)
            rows = [rank_correlation(result.maps, grad_cam(reinitialized(pipe, s), Xte))
                    for s in REINIT_SEEDS]
            rho = [r for r, _ in rows]
            constant = max(n for _, n in rows)
            other, _ = rank_correlation(result.maps, grad_cam(pipes[seed + 1], Xte))
            print(f"| {name} | {seed} | {pipe.score(Xte, yte):.3f} | {result.layer} | "
                  f"{np.mean(rho):.3f} ({min(rho):.3f}, {max(rho):.3f}) | "
                  f"{constant} of {len(Xte)} | {other:.3f} | {times[seed]:.0f} |", flush=True)


if __name__ == "__main__":
    main()
