"""A frozen backbone computed once: a head-only fit and a grid search of ResNet-18, timed
against running the backbone on every batch.

Data: CIFAR-10 5k (``defaults.cifar_task``: 5,000 balanced training images, 2,000 test
images, ``ImageNormalizer``, no augmentation), ResNet-18 with the weights of
``backbone_defaults.py`` (pretrained on CIFAR-10 classes 0-4) at 32 pixels,
``freeze="backbone"``, batches of 64.

``fit``: a 20-epoch head-only fit of the estimator (on normalized images) three ways:
sk_cnn's fit (the backbone's features computed once; the fastest of ``--repeats``); the same
fit with the backbone run on every batch (``unfreeze_at_epoch=21``: it stays frozen, but the
features are not reused); and the floor, one forward pass over the data (``frozen_features``)
plus the head (Dropout + Linear) trained alone on those features in a plain torch loop (Adam,
same batches per epoch, a forward pass over the validation tenth each epoch; the fastest of
``--repeats``, interleaved with sk_cnn's). Prints seconds, the ratio of sk_cnn's fit to the
floor, and test accuracies.

``grid``: ``GridSearchCV`` over dropout {0, 0.25, 0.5} x lr {3e-4, 1e-3, 3e-3}, 3-fold CV,
``--grid-epochs`` epochs, with ``memory=`` (a new temporary directory) against the backbone
run on every batch; seconds, the ratio, and whether both found the same parameters.

Run: ``cd benchmarks && PYTHONPATH=.. python frozen_features.py [fit] [grid]
[--grid-epochs 5] [--repeats 2]`` (both by default; needs
``../shared/datasets/cifar10-jpeg.tar.gz``).
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import torch
from backbone_defaults import pretrained_weights
from defaults import cifar_task
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline

from sk_cnn import CNNClassifier, ImageNormalizer
from sk_cnn.training._frozen_features import frozen_features
from sk_cnn.training._optimizers import resolved_lr

EPOCHS, BATCH = 20, 64
GRID = {"cnn__dropout": [0.0, 0.25, 0.5], "cnn__lr": [3e-4, 1e-3, 3e-3]}


def pipeline(weights, **params):
    return Pipeline([("norm", ImageNormalizer()), ("cnn", CNNClassifier(
        backbone="resnet18", weights=weights, freeze="backbone", batch_size=BATCH,
        max_epochs=EPOCHS, random_state=0, verbose=0))]).set_params(**params)


def timed_fit(estimator, X, y):
    start = time.perf_counter()
    estimator.fit(X, y)
    return time.perf_counter() - start


def floor_seconds(cnn, X, y):
    """One forward pass over X (normalized) plus the head trained alone on the features."""
    torch.manual_seed(0)
    images = torch.from_numpy(np.ascontiguousarray(X.transpose(0, 3, 1, 2)))
    start = time.perf_counter()
    features = frozen_features(cnn.module_, images, batch_size=BATCH, device="cpu",
                               mixed_precision=None)
    forward = time.perf_counter() - start
    labels = torch.as_tensor(np.searchsorted(cnn.classes_, y))
    n_valid = len(y) // 10
    train, valid = torch.randperm(len(y)).split([len(y) - n_valid, n_valid])
    head = torch.nn.Sequential(torch.nn.Dropout(0.0), torch.nn.Linear(features.shape[1], 10))
    optimizer = torch.optim.Adam(head.parameters(), lr=resolved_lr("adam", None))
    loss_fn = torch.nn.CrossEntropyLoss()
    start = time.perf_counter()
    for _ in range(EPOCHS):
        head.train()
        for batch in train[torch.randperm(len(train))].split(BATCH):
            optimizer.zero_grad()
            loss_fn(head(features[batch]), labels[batch]).backward()
            optimizer.step()
        head.eval()
        with torch.inference_mode():
            loss_fn(head(features[valid]), labels[valid])
    return forward, time.perf_counter() - start


def fit_table(task, weights, repeats):
    _, _, (X, y, X_test, y_test) = task
    normalizer = ImageNormalizer().fit(X)  # the estimators' fits are timed on normalized data
    X, X_test = normalizer.transform(X), normalizer.transform(X_test)
    cached_s, floors = [], []
    for _ in range(repeats):  # interleaved, the fastest of each kept
        cached = pipeline(weights)[-1]
        cached_s.append(timed_fit(cached, X, y))
        floors.append(floor_seconds(cached, X, y))
    every_batch = pipeline(weights, cnn__unfreeze_at_epoch=EPOCHS + 1)[-1]
    every_batch_s = timed_fit(every_batch, X, y)
    cached_s = min(cached_s)
    forward, head = min(floors, key=sum)
    floor = forward + head
    print(f"| {EPOCHS}-epoch fit (fastest of {repeats}) | seconds | ratio to the floor | "
          f"test accuracy |\n|---|---|---|---|\n"
          f"| features computed once (sk_cnn) | {cached_s:.1f} | {cached_s / floor:.2f} | "
          f"{cached.score(X_test, y_test):.4f} |\n"
          f"| backbone on every batch (once) | {every_batch_s:.1f} | "
          f"{every_batch_s / floor:.2f} | {every_batch.score(X_test, y_test):.4f} |\n"
          f"| floor: one forward pass ({forward:.1f} s) + the head alone ({head:.1f} s) | "
          f"{floor:.1f} | 1.00 | |", flush=True)
    difference = np.abs(cached.predict_proba(X_test) - every_batch.predict_proba(X_test)).max()
    print(f"largest difference in predict_proba, once vs every batch: {difference:.2g}\n")


def grid_table(task, weights, epochs):
    _, _, (X, y, _, _) = task
    rows = []
    with tempfile.TemporaryDirectory() as cache:
        for name, params in [("memory=", dict(cnn__memory=cache)),
                             ("backbone on every batch",
                              dict(cnn__unfreeze_at_epoch=epochs + 1))]:
            search = GridSearchCV(pipeline(weights, cnn__max_epochs=epochs, **params), GRID,
                                  cv=3)
            seconds = timed_fit(search, X, y)
            rows.append((name, seconds, search.best_params_, search.best_score_))
    print(f"| 3x3 grid, 3-fold CV, {epochs} epochs | seconds | speed-up | best parameters | "
          f"best CV accuracy |\n|---|---|---|---|---|")
    for name, seconds, best, score in rows:
        print(f"| {name} | {seconds:.0f} | {rows[1][1] / seconds:.1f}x | "
              f"{ {k.split('__')[1]: v for k, v in best.items()} } | {score:.4f} |",
              flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("parts", nargs="*", help="fit, grid (both by default)")
    parser.add_argument("--grid-epochs", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=2, help="fits timed in `fit`")
    args = parser.parse_args()
    weights = pretrained_weights()
    task = cifar_task()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{len(task[2][0])} training images")
    parts = args.parts or ["fit", "grid"]
    if set(parts) - {"fit", "grid"}:
        parser.error(f"parts are fit and grid, got {parts}")
    if "fit" in parts:
        fit_table(task, weights, args.repeats)
    if "grid" in parts:
        grid_table(task, weights, args.grid_epochs)


if __name__ == "__main__":
    main()
