"""Fine-tuning a pretrained backbone: which settings the defaults should be, by measurement.

``defaults.py`` chose the estimator's defaults (Adam at 2e-3, cosine schedule, 20 epochs, batches
of 64) on the plain CNN trained from scratch. This script asks whether they also suit the
other common use, fine-tuning pretrained weights (``backbone="resnet18", weights=...``).

Nothing may be downloaded, so the pretrained weights are our own: a ResNet-18 trained for 6
epochs on the 25,000 CIFAR-10 training images of classes 0-4 (as examples/transfer_learning.py
does), saved with ``sk_cnn.save_weights`` and cached in ``~/.cache/sk_cnn/`` (about 5 minutes
the first time). Each configuration then trains the whole pipeline (ImageNormalizer ->
ImageAugmenter -> CNNClassifier(backbone="resnet18", ...)) for the default 20 epochs on three
target tasks, seeds 0, 1, 2:

* CIFAR-10 classes 5-9 (dog, frog, horse, ship, truck) from 100 training images per class,
* the same classes from 300 per class (both tested on the 5,000 test images of classes 5-9),
* sklearn's digits (8x8 grayscale, upsampled to 32x32 by the backbone; the RGB filters of the
  first convolution summed into one), 25% stratified hold-out: another domain.

Run: ``cd benchmarks && PYTHONPATH=.. python backbone_defaults.py`` (about 45 minutes on 2
cores). Needs ``../shared/datasets/cifar10-jpeg.tar.gz`` (or ``SK_CNN_CIFAR10``).
"""

from __future__ import annotations

import argparse
import functools
import time
from pathlib import Path

import cifar10_data
import numpy as np
from defaults import add_seed_arguments, digits_task, print_seed_rows, print_table_header
from sklearn.pipeline import Pipeline

import sk_cnn
from sk_cnn import CNNClassifier, ImageAugmenter, ImageNormalizer

WEIGHTS = cifar10_data.CACHE_DIR / "resnet18_cifar10_classes0-4_6epochs.pt"

# Every candidate names what it changes from the estimator's defaults; "pretrained" is the file
# above.
CANDIDATES = {
    "pretrained, defaults (lr 2e-3, every layer trains)": dict(weights="pretrained"),
    "pretrained, lr 5e-4": dict(weights="pretrained", lr=5e-4),
    "pretrained, lr 2e-4": dict(weights="pretrained", lr=2e-4),
    "pretrained, backbone_lr_factor 0.1": dict(weights="pretrained", backbone_lr_factor=0.1),
    "pretrained, head only (freeze backbone)": dict(weights="pretrained", freeze="backbone"),
    "pretrained, head first, unfreeze at 6, factor 0.1 (the example)": dict(
        weights="pretrained", freeze="backbone", unfreeze_at_epoch=6, backbone_lr_factor=0.1),
    "from scratch, defaults": dict(),
}


def _cifar_steps():
    return [("norm", ImageNormalizer()), ("aug", ImageAugmenter(crop_padding=4))]


def pretrained_weights(path: Path = WEIGHTS) -> Path:
    """The cached pretrained file; trains and saves it when it is not there yet."""
    if path.is_file():
        print(f"pretrained weights: {path} (cached)")
        return path
    X, y, _, _, _ = cifar10_data.load_cifar10()
    old = np.isin(y, range(5))
    start = time.perf_counter()
    pipe = Pipeline(_cifar_steps() + [("cnn", CNNClassifier(
        backbone="resnet18", max_epochs=6, random_state=0, verbose=0))]).fit(X[old], y[old])
    path.parent.mkdir(parents=True, exist_ok=True)
    sk_cnn.save_weights(pipe, path)
    print(f"pretrained weights: {path}, trained on {old.sum()} images of classes 0-4 in "
          f"{time.perf_counter() - start:.0f} s")
    return path


def cifar_target_task(per_class: int):
    """CIFAR-10 classes 5-9 from ``per_class`` training images each (drawn with seed 0)."""
    X, y, X_test, y_test, _ = cifar10_data.load_cifar10()
    rng = np.random.default_rng(0)
    few = np.concatenate([rng.permutation(np.flatnonzero(y == c))[:per_class]
                          for c in range(5, 10)])
    test = np.isin(y_test, range(5, 10))
    return (f"cifar10 5-9, {per_class}/class", _cifar_steps(),
            (X[few], y[few], X_test[test], y_test[test]))


def run(task, params, seed, weights):
    _, steps, (X, y, X_test, y_test) = task
    if params.get("weights") == "pretrained":
        params = {**params, "weights": weights}
    pipe = Pipeline(steps + [("cnn", CNNClassifier(backbone="resnet18", random_state=seed,
                                                   verbose=0, **params))])
    start = time.perf_counter()
    pipe.fit(X, y)
    seconds = time.perf_counter() - start
    return pipe.score(X_test, y_test), seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_seed_arguments(parser)
    parser.add_argument("--tasks", nargs="*", default=["100", "300", "digits"],
                        help="target tasks: 100 and 300 (CIFAR-10 images per class), digits")
    args = parser.parse_args()
    if not cifar10_data.available():
        raise SystemExit(f"CIFAR-10 archive not found at {cifar10_data.ARCHIVE}")
    weights = pretrained_weights()
    tasks = [digits_task() if name == "digits" else cifar_target_task(int(name))
             for name in args.tasks]
    print_table_header(args.seeds, "target task")
    for task in tasks:
        print_seed_rows([task[0]], CANDIDATES, args, functools.partial(run, task, weights=weights))


if __name__ == "__main__":
    main()
