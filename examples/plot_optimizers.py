"""
Optimizers: SGD with momentum versus Adam
=========================================

The lesson's practice step on optimizers: train the same CNN with SGD + momentum and with Adam
and compare how fast they converge. Both use sk_cnn's default learning rates (SGD: 0.05 with
momentum 0.9; Adam: 2e-3, chosen in ``benchmarks/defaults.py``) and a constant learning rate,
so that only the optimizer differs.

The data is a class-balanced subset of CIFAR-10, downloaded on first use (170 MB, kept in
scikit-learn's data folder). ``SK_CNN_CIFAR10=<path>`` reads a local copy instead, and
``SK_CNN_EXAMPLE_DATA=digits`` uses sklearn's digits (seconds): the documentation build does,
so the pictures in the online gallery are of digits. The pictures are saved under ``output``
(``SK_CNN_EXAMPLE_OUTPUT`` changes the folder).
"""

# %%
# The data and the network
# ------------------------
# sk_cnn's default CNN (Conv -> BatchNorm -> ReLU -> max-pool blocks, global average pooling),
# narrower (three blocks of 16-32-64) so the example runs in seconds on a CPU
# (see benchmarks/README.md for its run time on CIFAR-10).
import os
import time
from pathlib import Path

from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline

from sk_cnn import CNNClassifier, ImageNormalizer
from sk_cnn.datasets import fetch_cifar10, load_digits_images
from sk_cnn.plotting import compare_histories

if os.environ.get("SK_CNN_EXAMPLE_DATA") == "digits":  # 8x8 grayscale, seconds to train
    X, y = load_digits_images()
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=0)
else:  # CIFAR-10, 32x32 color; SK_CNN_CIFAR10 may name a local copy of it
    cifar10 = os.environ.get("SK_CNN_CIFAR10")
    X_train, y_train = fetch_cifar10("train", source=cifar10, n_samples=2500)
    X_test, y_test = fetch_cifar10("test", source=cifar10, n_samples=1000)
print(f"{len(X_train)} training and {len(X_test)} test images of shape {X_train.shape[1:]}")
out = Path(os.environ.get("SK_CNN_EXAMPLE_OUTPUT", "output"))  # where the pictures go
out.mkdir(parents=True, exist_ok=True)


def cnn(**optimizer):
    return Pipeline([
        ("norm", ImageNormalizer()),
        ("cnn", CNNClassifier(conv_filters=(16, 32, 64), lr_schedule=None, max_epochs=10,
                              validation_fraction=0.2, random_state=0, verbose=0,
                              **optimizer)),
    ])


# %%
# Train with each optimizer
# -------------------------
runs = {}
for name, optimizer in [("SGD + momentum 0.9", {"optimizer": "sgd", "momentum": 0.9}),
                        ("Adam", {"optimizer": "adam"})]:
    start = time.perf_counter()
    runs[name] = cnn(**optimizer).fit(X_train, y_train)
    history = runs[name][-1].history
    print(f"{name}: fit in {time.perf_counter() - start:.1f} s, "
          f"validation accuracy after 3 epochs {history[2, 'valid_acc']:.3f}, "
          f"after {len(history)} {history[-1, 'valid_acc']:.3f}; "
          f"test accuracy {runs[name].score(X_test, y_test):.3f}")

# %%
# Convergence
# -----------
# Solid lines are the running training loss and accuracy (averaged over each epoch's batches
# while the weights change), dashed lines the held-out validation fifth after each epoch.
fig = compare_histories(runs)
fig.savefig(out / "optimizer_comparison.png")
print(f"picture saved in {out.resolve()}")
