"""
Where the network looks: Grad-CAM maps
======================================

Grad-CAM (Selvaraju et al., 2017) weighs the feature maps of a late convolution stage by how
much the score of a class grows with each of them: the result shows where in the image the
network finds the evidence for that class. Here on CIFAR-10 classes: the maps of the predicted
class, of another class, and the sanity check of Adebayo et al. (2018): the maps of the same
network with re-initialized weights must differ from those of the trained one, or the maps
show the image rather than what the network learned.

The data is a class-balanced subset of CIFAR-10, downloaded on first use (170 MB, kept in
scikit-learn's data folder). ``SK_CNN_CIFAR10=<path>`` reads a local copy instead, and
``SK_CNN_EXAMPLE_DATA=digits`` uses sklearn's digits (seconds): the documentation build does,
so the pictures in the online gallery are of digits, where the maps are coarse (the last
stage of the network sees 2x2 positions of an 8x8 digit). The pictures are saved under
``output`` (``SK_CNN_EXAMPLE_OUTPUT`` changes the folder).
"""

# %%
# Train a CNN
# -----------
import copy
import os
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline

from sk_cnn import CNNClassifier, ImageAugmenter, ImageNormalizer
from sk_cnn.datasets import fetch_cifar10, load_digits_images
from sk_cnn.inspection import grad_cam
from sk_cnn.plotting import plot_grad_cam

digits = os.environ.get("SK_CNN_EXAMPLE_DATA") == "digits"
if digits:  # 8x8 grayscale, seconds to train
    X, y = load_digits_images()
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=0)
else:  # CIFAR-10, 32x32 color; SK_CNN_CIFAR10 may name a local copy of it
    cifar10 = os.environ.get("SK_CNN_CIFAR10")
    X_train, y_train = fetch_cifar10("train", source=cifar10, n_samples=5000)
    X_test, y_test = fetch_cifar10("test", source=cifar10, n_samples=1000)
print(f"{len(X_train)} training and {len(X_test)} test images of shape {X_train.shape[1:]}")
out = Path(os.environ.get("SK_CNN_EXAMPLE_OUTPUT", "output"))  # where the pictures go
out.mkdir(parents=True, exist_ok=True)

pipe = Pipeline([
    ("norm", ImageNormalizer()),
    # A mirrored photo shows the same class; a mirrored digit may not.
    ("aug", ImageAugmenter(horizontal_flip=not digits, crop_padding=2)),
    ("cnn", CNNClassifier(conv_filters=(32, 64, 128), max_epochs=10, random_state=0,
                          verbose=0)),
])
start = time.perf_counter()
pipe.fit(X_train, y_train)
print(f"fit in {time.perf_counter() - start:.1f} s, "
      f"test accuracy {pipe.score(X_test, y_test):.3f}")

# %%
# Maps of the predicted class
# ---------------------------
# Each test image with its map over it (red: strong evidence, blue: none), titled with the
# predicted and the true class; mistakes in red. The maps are of the last stage whose output
# still has more than one position (``layer=`` picks another) and are scaled to [0, 1] per
# image, so compare where, not how much.
fig = plot_grad_cam(pipe, X_test, y_test, n_images=8)
fig.savefig(out / "grad_cam.png")

# %%
# Maps of another class
# ---------------------
# ``target=`` explains any class: here the class of the first image for all of them. Where
# an image holds little evidence for that class, its map is weak everywhere and the scaling
# to [0, 1] makes the little it finds look strong.
fig = plot_grad_cam(pipe, X_test, y_test, n_images=8, target=y_test[0])
fig.savefig(out / "grad_cam_other_class.png")

# %%
# Sanity check: re-initialized weights
# ------------------------------------
# The same network with its weights drawn anew (every layer's ``reset_parameters``). If the
# maps still looked alike, they would show the image, not what the network learned. The
# Spearman rank correlation of the two maps of each image, averaged over the test images,
# is near 0 for Grad-CAM (a method that ignores the weights scores 1).
randomized = copy.deepcopy(pipe)
torch.manual_seed(0)
for module in randomized[-1].module_.modules():
    if hasattr(module, "reset_parameters"):
        module.reset_parameters()
maps, random_maps = grad_cam(pipe, X_test), grad_cam(randomized, X_test)
correlation = np.nanmean([spearmanr(a.ravel(), b.ravel()).statistic
                          for a, b in zip(maps, random_maps)])
print(f"rank correlation of the trained and re-initialized network's maps: {correlation:.2f}")
fig = plot_grad_cam(randomized, X_test, y_test, n_images=8)
fig.savefig(out / "grad_cam_randomized.png")
print(f"pictures saved in {out.resolve()}")
