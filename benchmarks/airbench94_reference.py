"""Write the team's CIFAR-10 copy where Keller Jordan's airbench94 script reads CIFAR-10.

The reference for ``cifar10_gpu.py``: the published script on the same (JPEG) data and GPU.
``legacy/airbench94.py`` of github.com/KellerJordan/cifar10-airbench (commit f1c599c) loads
``cifar10/train.pt`` and ``cifar10/test.pt`` (``{"images": uint8 (N, 32, 32, 3), "labels",
"classes"}``) from its working directory and downloads CIFAR-10 only when they are missing.
This writes them from ``cifar10_data.load_cifar10()``, training images in a fixed random order
(the archive is sorted by class, and airbench94 whitens from its first 5,000 training images).

Run, on the GPU machine, in a folder holding a copy of ``airbench94.py``::

    PYTHONPATH=<checkout>/benchmarks python <checkout>/benchmarks/airbench94_reference.py
    sed -i 's/range(25)/range(5)/' airbench94.py   # 5 runs instead of 25
    python airbench94.py

It prints each run's time (its own CUDA-event timer: whitening, training and TTA evaluation,
data already on the GPU) and accuracy with its flip + translate TTA, then their mean and std.
"""

from __future__ import annotations

from pathlib import Path

import cifar10_data
import numpy as np
import torch


def main():
    X, y, X_test, y_test, classes = cifar10_data.load_cifar10()
    order = np.random.default_rng(0).permutation(len(X))
    Path("cifar10").mkdir(exist_ok=True)
    for name, images, labels in (("train", X[order], y[order]), ("test", X_test, y_test)):
        torch.save({"images": torch.from_numpy(images),
                    "labels": torch.from_numpy(labels.astype(np.int64)),
                    "classes": [str(c) for c in classes]}, Path("cifar10") / f"{name}.pt")
    print(f"wrote cifar10/train.pt ({len(X)} images) and cifar10/test.pt ({len(X_test)})")


if __name__ == "__main__":
    main()
