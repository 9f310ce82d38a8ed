"""
Look inside: network summary, first-layer filters, predictions, confusion matrix
================================================================================

The lesson's last practice steps: print the network's layers and shapes, visualize the
learned filters of the first convolution, and look at predictions and at which classes get
confused. The first layer uses 5x5 kernels, large enough to show color blobs and edges.

The data is a class-balanced subset of CIFAR-10 when the CIFAR-10 JPEG archive
``../shared/datasets/cifar10-jpeg.tar.gz`` is there, otherwise sklearn's digits (the script
says which). ``SK_CNN_EXAMPLE_DATA=digits`` forces digits: the documentation build does, so
the pictures in the online gallery are of digits (grayscale filters).
"""

# %%
# Train a CNN
# -----------
import time

from example_data import load_example_data, output_dir
from sklearn.pipeline import Pipeline

from sk_cnn import CNNClassifier, ImageAugmenter, ImageNormalizer
from sk_cnn.plotting import plot_confusion_matrix, plot_filters, plot_predictions

data = load_example_data(n_train=3000, n_test=1000)
print(data.description)

pipe = Pipeline([
    ("norm", ImageNormalizer()),
    ("aug", ImageAugmenter(horizontal_flip=data.name == "cifar10", crop_padding=2)),
    ("cnn", CNNClassifier(conv_filters=(32, 32), kernel_size=5, max_epochs=8,
                          random_state=0, verbose=0)),
])
start = time.perf_counter()
pipe.fit(data.X_train, data.y_train)
print(f"fit in {time.perf_counter() - start:.1f} s, "
      f"test accuracy {pipe.score(data.X_test, data.y_test):.3f}")

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
out = output_dir()
fig = plot_filters(pipe)
fig.savefig(out / "first_layer_filters.png")

# %%
# Predictions
# -----------
# Test images titled "predicted / true", mistakes in red: first a few in order, then only
# mistakes.
fig = plot_predictions(pipe, data.X_test, data.y_test, n_images=16,
                       class_names=data.class_names)
fig.savefig(out / "predictions.png")
fig = plot_predictions(pipe, data.X_test, data.y_test, n_images=8, only_errors=True,
                       class_names=data.class_names)
fig.savefig(out / "mistakes.png")

# %%
# Confusion matrix
# ----------------
# Rows are the true classes, columns the predictions, each row normalized to sum to 1.
fig = plot_confusion_matrix(pipe, data.X_test, data.y_test, normalize="true",
                            class_names=data.class_names)
fig.savefig(out / "confusion_matrix.png")
print(f"pictures saved in {out.resolve()}")
