"""A short last training batch against batch normalization: ResNet-18 from scratch on 450 images.

The transfer-learning example's task (CIFAR-10 classes 5-9, 100 training images each, 10% held
out: 450 training images), trained from scratch for 30 epochs with the estimator's defaults
(batches of 64) and the batches arranged four ways:

- sk_cnn's BatchIterator: a last batch under half a batch joins the one before (6 x 64 + 66);
- torch's DataLoader (``iterator_train=DataLoader``): 7 x 64 and a last batch of 2;
- BatchIterator with ``iterator_train__drop_last=True``: 7 x 64, 2 images left out per epoch;
- ``batch_size=75``: 6 x 75.

Needs ``../shared/datasets/cifar10-jpeg.tar.gz``. Run: ``cd benchmarks && PYTHONPATH=.. python
short_last_batch.py`` (about 3 minutes on 2 cores).
"""

from __future__ import annotations

import time

import cifar10_data
import numpy as np
from sklearn.pipeline import Pipeline
from torch.utils.data import DataLoader

from sk_cnn import CNNClassifier, ImageAugmenter, ImageNormalizer

ARRANGEMENTS = {
    "BatchIterator, batch 64 (6 x 64 + 66)": {},
    "DataLoader, batch 64 (7 x 64 + 2)": {"iterator_train": DataLoader},
    "BatchIterator, drop_last (7 x 64)": {"iterator_train__drop_last": True},
    "BatchIterator, batch 75 (6 x 75)": {"batch_size": 75},
}


def main():
    X_train, y_train, X_test, y_test, _ = cifar10_data.load_cifar10()
    rng = np.random.default_rng(0)
    few = np.concatenate([rng.permutation(np.flatnonzero(y_train == c))[:100]
                          for c in range(5, 10)])
    test = np.isin(y_test, range(5, 10))
    print("| batches of an epoch | test accuracy | fit s |\n|---|---|---|")
    for name, params in ARRANGEMENTS.items():
        start = time.perf_counter()
        model = Pipeline([
            ("norm", ImageNormalizer()), ("aug", ImageAugmenter(crop_padding=4)),
            ("cnn", CNNClassifier(backbone="resnet18", max_epochs=30, random_state=0,
                                  verbose=0, **params))]).fit(X_train[few], y_train[few])
        seconds = time.perf_counter() - start
        print(f"| {name} | {model.score(X_test[test], y_test[test]):.3f} | {seconds:.0f} |",
              flush=True)


if __name__ == "__main__":
    main()
