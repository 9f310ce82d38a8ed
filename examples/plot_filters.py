"""
Look inside: network summary, first-layer filters, predictions, confusion matrix
================================================================================

The lesson's last practice steps: print the network's layers and shapes, visualize the
learned filters of the first convolution, and look at predictions and at which classes get
confused. The first layer uses 5x5 kernels, large enough to show color blobs and edges.

The data is a class-balanced subset of CIFAR-10, downloaded on first use (170 MB, kept in
scikit-learn's data folder). ``SK_CNN_CIFAR10=<path>`` reads a local copy instead, and
``SK_CNN_EXAMPLE_DATA=digits`` uses sklearn's digits (seconds): the documentation build does,
so the pictures in the online gallery are of digits (grayscale filters). The pictures are
saved under ``output`` (``SK_CNN_EXAMPLE_OUTPUT`` changes the folder).
"""

# %%
# Train a CNN
# -----------
import os
import time
from pathlib import Path

from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline

from sk_cnn import CNNClassifier, ImageAugmenter, ImageNormalizer
from sk_cnn.datasets import fetch_cifar10, load_digits_images
from sk_cnn.plotting import plot_confusion_matrix, plot_filters, plot_predictions

digits = os.environ.get("SK_CNN_EXAMPLE_DATA") == "digits"
if digits:  # 8x8 grayscale, seconds to train
    X, y = load_digits_images()
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=0)
else:  # CIFAR-10, 32x32 color; SK_CNN_CIFAR10 may name a local copy of it
    cifar10 = os.environ.get("SK_CNN_CIFAR10")
    X_train, y_train = fetch_cifar10("train", source=cifar10, n_samples=3000)
    X_test, y_test = fetch_cifar10("test", source=cifar10, n_samples=1000)
print(f"{len(X_train)} training and {len(X_test)} test images of shape {X_train.shape[1:]}")
out = Path(os.environ.get("SK_CNN_EXAMPLE_OUTPUT", "output"))  # where the pictures go
out.mkdir(parents=True, exist_ok=True)

pipe = Pipeline([
    ("norm", ImageNormalizer()),
    # A mirrored photo shows the same class; a mirrored digit may not.
    ("aug", ImageAugmenter(horizontal_flip=not digits, crop_padding=2)),
    ("cnn", CNNClassifier(conv_filters=(32, 32), kernel_size=5, max_epochs=8,
                          random_state=0, verbose=0)),
])
start = time.perf_counter()
pipe.fit(X_train, y_train)
print(f"fit in {time.perf_counter() - start:.1f} s, "
      f"test accuracy {pipe.score(X_test, y_test):.3f}")

# %%
# The network
# -----------
# One row per layer: its output shape for one image (batch axis shown as None), its
# parameters and whether they train. The classifier received images of shape
# ``input_shape_``; the network works channels first.
print(pipe[-1].summary())

# %%
# First-layer filters
# -------------------
# Each 5x5x3 kernel is min-max scaled on its own and shown in RGB (grayscale for one-channel
# images): the color and pattern each filter responds to. After this short training on a
# small subset many of them are still close to noise.
fig = plot_filters(pipe)
fig.savefig(out / "first_layer_filters.png")

# %%
# Predictions
# -----------
# Test images titled "predicted / true", mistakes in red: first a few in order, then only
# mistakes.
fig = plot_predictions(pipe, X_test, y_test, n_images=16)
fig.savefig(out / "predictions.png")
fig = plot_predictions(pipe, X_test, y_test, n_images=8, only_errors=True)
fig.savefig(out / "mistakes.png")

# %%
# Confusion matrix
# ----------------
# Rows are the true classes, columns the predictions, each row normalized to sum to 1.
fig = plot_confusion_matrix(pipe, X_test, y_test, normalize="true")
fig.savefig(out / "confusion_matrix.png")
print(f"pictures saved in {out.resolve()}")
