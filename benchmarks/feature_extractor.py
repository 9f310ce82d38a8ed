"""Embeddings without training (CNNFeatureExtractor) against trained networks, and the cost of a
transformer backbone's head epoch on the CPU.

Features of a ResNet-18 (``CNNFeatureExtractor``) fed to a logistic regression, against a
trained network, on two CIFAR-10 tasks:

* ``cifar5k``: CIFAR-10 5k (5,000 balanced training images, 2,000 balanced test images, as
  ``defaults.py``): ResNet-18 with random weights at 224 pixels (the size of its ImageNet
  weights) and at 32 pixels, against the default CNNClassifier trained for its 20 epochs.
  ImageNet weights cannot be downloaded here: these rows measure random features, a floor for
  what pretrained ones give.
* ``pretrained``: CIFAR-10 classes 5-9 from 100 and 300 images per class
  (``backbone_defaults.py``'s target tasks), features of the ResNet-18 that
  ``backbone_defaults.py`` pretrains on classes 0-4 (at 32 pixels, the size it was trained
  at), against fine-tuning that network (its table).

Each embedding row transforms the images once, then fits ``LogisticRegression(max_iter=1000)``
on the features, alone and after a ``StandardScaler``.

``heads``: one epoch of ``CNNClassifier(backbone=..., freeze="backbone")`` (random weights:
only the timing means something) on 256 CIFAR-10 training images, then predicting 256 test
images, for vit_b_16 and swin_t at their default input size (224 pixels), ResNet-18 at 224
and swin_t at 32 pixels.

Run: ``cd benchmarks && PYTHONPATH=.. python feature_extractor.py [cifar5k] [pretrained]
[heads] [--threads N]`` (all three by default). Needs
``../shared/datasets/cifar10-jpeg.tar.gz`` (or ``SK_CNN_CIFAR10``); ``pretrained`` trains and
caches ``backbone_defaults.py``'s weights first when they are missing.
"""

from __future__ import annotations

import argparse
import time
import warnings

import cifar10_data
import torch
from backbone_defaults import cifar_target_task, pretrained_weights
from defaults import cifar_task
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from sk_cnn import CNNClassifier, CNNFeatureExtractor, ImageAugmenter, ImageNormalizer

HEADS = {"plain LogisticRegression": lambda: LogisticRegression(max_iter=1000),
         "StandardScaler + LogisticRegression": lambda: make_pipeline(
             StandardScaler(), LogisticRegression(max_iter=1000))}


def _row(*cells):
    print("| " + " | ".join(map(str, cells)) + " |", flush=True)


def embedding_rows(task_name, data, extractor, label):
    X, y, X_test, y_test = data
    start = time.perf_counter()
    extractor.fit(X)
    features, test_features = extractor.transform(X), extractor.transform(X_test)
    embed = time.perf_counter() - start
    for head_name, head in HEADS.items():
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # lbfgs' ConvergenceWarning, counted in the row
            model = head().fit(features, y)
        _row(task_name, f"{label}, {head_name}", f"{model.score(test_features, y_test):.4f}",
             f"{embed:.1f} + {time.perf_counter() - start:.1f}")


def _embedding_header():
    print("| task | model | test accuracy | seconds (embed train+test + fit) |")
    print("|---|---|---|---|")


def cifar5k():
    _embedding_header()
    name, steps, data = cifar_task()
    for size in (None, 32):
        embedding_rows(name, data, CNNFeatureExtractor("resnet18", weights=None,
                                                       input_size=size),
                       f"resnet18 random weights, {size or 224} px")
    start = time.perf_counter()
    pipe = Pipeline(steps + [("cnn", CNNClassifier(random_state=0, verbose=0))]).fit(*data[:2])
    _row(name, "CNNClassifier defaults, trained 20 epochs (seed 0)",
         f"{pipe.score(*data[2:]):.4f}", f"{time.perf_counter() - start:.1f}")


def pretrained():
    weights = pretrained_weights()
    _embedding_header()
    for per_class in (100, 300):
        task_name, _, task_data = cifar_target_task(per_class)
        embedding_rows(task_name, task_data, CNNFeatureExtractor(
            "resnet18", weights=weights, input_size=32), "resnet18 pretrained on classes 0-4")


def heads():
    X, y, X_test, y_test, _ = cifar10_data.load_cifar10()
    X, y = cifar10_data.stratified_subset(X, y, 256)
    X_test, y_test = cifar10_data.stratified_subset(X_test, y_test, 256)
    print("| backbone | input size | trainable / all parameters | fit 1 epoch s | "
          "predict s | test accuracy |")
    print("|---|---|---|---|---|---|")
    for name, size in [("resnet18", 224), ("vit_b_16", None), ("swin_t", None),
                       ("swin_t", 32)]:
        clf = CNNClassifier(backbone=name, input_size=size, freeze="backbone", max_epochs=1,
                            random_state=0, verbose=0)
        pipe = Pipeline([("norm", ImageNormalizer(mean="imagenet")),
                         ("aug", ImageAugmenter(crop_padding=4)), ("cnn", clf)])
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="freeze='backbone' with weights=None")
            pipe.fit(X, y)
        fit = time.perf_counter() - start
        start = time.perf_counter()
        accuracy = pipe.score(X_test, y_test)
        predict = time.perf_counter() - start
        params = list(clf.module_.parameters())
        _row(name, "x".join(map(str, clf.module_.input_size)),
             f"{sum(p.numel() for p in params if p.requires_grad):,} / "
             f"{sum(p.numel() for p in params):,}", f"{fit:.1f}", f"{predict:.1f}",
             f"{accuracy:.3f}")


PARTS = {"cifar5k": cifar5k, "pretrained": pretrained, "heads": heads}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("parts", nargs="*", help=f"of {', '.join(PARTS)} (all by default)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    args = parser.parse_args()
    if not cifar10_data.available():
        raise SystemExit(f"CIFAR-10 archive not found at {cifar10_data.ARCHIVE}")
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    unknown = set(args.parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown parts {sorted(unknown)}; choose from {list(PARTS)}")
    for part in args.parts or PARTS:
        PARTS[part]()


if __name__ == "__main__":
    main()
