"""
Image regression: how far was the picture rotated?
==================================================

The dense head of a CNN can predict a number as well as a class. Here every image is rotated by
a random angle between -45 and 45 degrees, and :class:`~sk_cnn.CNNRegressor` learns to read the
angle back from the pixels. ``score`` is R^2, as for every scikit-learn regressor.

The images are a CIFAR-10 subset, downloaded on first use (170 MB, kept in scikit-learn's
data folder). ``SK_CNN_CIFAR10=<path>`` reads a local copy instead, and
``SK_CNN_EXAMPLE_DATA=digits`` uses sklearn's digits (seconds), as the documentation build
does. The picture is saved under ``output`` (``SK_CNN_EXAMPLE_OUTPUT`` changes the folder).

One lesson on augmentation comes for free: a left-right flip turns an angle of +30 degrees into
-30 degrees, so a flip would teach the network wrong targets. Augment only in ways that keep the
target true (here: none).
"""

# %%
# Rotated images and their angles
# -------------------------------
import os
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from scipy.ndimage import rotate
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline

from sk_cnn import CNNRegressor, ImageNormalizer
from sk_cnn.datasets import fetch_cifar10, load_digits_images

if os.environ.get("SK_CNN_EXAMPLE_DATA") == "digits":  # 8x8 grayscale, seconds to train
    X, y = load_digits_images()
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=0)
else:  # CIFAR-10, 32x32 color; SK_CNN_CIFAR10 may name a local copy of it
    cifar10 = os.environ.get("SK_CNN_CIFAR10")
    X_train, y_train = fetch_cifar10("train", source=cifar10, n_samples=3000)
    X_test, y_test = fetch_cifar10("test", source=cifar10, n_samples=600)
print(f"{len(X_train)} training and {len(X_test)} test images of shape {X_train.shape[1:]}")
out = Path(os.environ.get("SK_CNN_EXAMPLE_OUTPUT", "output"))  # where the pictures go
out.mkdir(parents=True, exist_ok=True)


def rotated(images, seed):
    """Each image rotated by its own random angle (bilinear, corners filled with black)."""
    rng = np.random.default_rng(seed)
    angles = rng.uniform(-45, 45, len(images))
    axes = (1, 0)  # the height and width axes of (H, W) and (H, W, C) images
    turned = np.stack([rotate(image, angle, axes=axes, reshape=False, order=1)
                       for image, angle in zip(images, angles)])
    return turned.astype(images.dtype), angles


X_train, angle_train = rotated(X_train, seed=0)
X_test, angle_test = rotated(X_test, seed=1)

# %%
# The regressor
# -------------
# The same network, options and pipeline as the classifier; the output layer has one unit and
# the loss is the mean squared error on the standardized angle (``scale_target=True``).
model = Pipeline([
    ("norm", ImageNormalizer()),
    ("cnn", CNNRegressor(max_epochs=15, random_state=0, verbose=0)),
])
start = time.perf_counter()
model.fit(X_train, angle_train)
predicted = model.predict(X_test)
error = np.abs(predicted - angle_test)
r2 = model.score(X_test, angle_test)
print(f"fit in {time.perf_counter() - start:.1f} s; test R^2 {r2:.3f}, mean absolute error"
      f" {error.mean():.1f} degrees (guessing 0 would be "
      f"{np.abs(angle_test).mean():.1f})")

# %%
# Predicted against true angle
# ----------------------------
# Points on the diagonal are perfect predictions.
fig, ax = plt.subplots(figsize=(5.5, 5), layout="constrained")
ax.scatter(angle_test, predicted, s=6, alpha=0.5)
ax.plot([-45, 45], [-45, 45], color="black", linewidth=1)
ax.set(xlabel="true angle (degrees)", ylabel="predicted angle (degrees)",
       title=f"Rotation angles of the test images: R^2 {r2:.2f}")
fig.savefig(out / "rotation_regression.png")
print(f"picture saved in {out.resolve()}")
