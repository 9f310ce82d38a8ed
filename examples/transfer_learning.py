"""
Transfer learning: pretrain, save the weights, fine-tune on a new task
======================================================================

The lesson's recipe: a ResNet-18 is pretrained on the first five CIFAR-10 classes (airplane,
automobile, bird, cat, deer), its weights are saved with ``sk_cnn.save_weights``, then the
same network is fine-tuned on the other five (dog, frog, horse, ship, truck) from only 100
images per class, with the estimator's defaults (every layer trains, 20 epochs). The lesson's
cautious recipe runs beside it: first the new head alone (``freeze="backbone"``), then
everything with a 10x smaller learning rate for the backbone (``unfreeze_at_epoch``,
``backbone_lr_factor``). Both are compared with the same network trained from scratch on the
same 500 images; benchmarks/README.md compares the two recipes over several seeds and tasks.

CIFAR-10 is downloaded on first use (170 MB, kept in scikit-learn's data folder);
``SK_CNN_CIFAR10=<path>`` reads a local copy instead. On CIFAR-10 the pretraining (6 epochs of
25,000 images) is the long part: minutes on a CPU (see benchmarks/README.md).
``SK_CNN_EXAMPLE_DATA=digits`` runs the same steps on sklearn's digits in seconds (8x8,
upsampled to 32x32 by the backbone), digits 0-4 then 5-9; the documentation build does.

Pretrained ImageNet weights are used the same way, with ``weights="DEFAULT"``: torchvision's
weights are downloaded into the torch hub cache on first use (``SK_CNN_OFFLINE=1`` forbids
the download). The test accuracies are saved as a bar chart under ``output``
(``SK_CNN_EXAMPLE_OUTPUT`` changes the folder), with the pretrained weights.
"""

# %%
# The data
# --------
import os
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline

import sk_cnn
from sk_cnn import CNNClassifier, ImageAugmenter, ImageNormalizer
from sk_cnn.datasets import fetch_cifar10, load_digits_images

digits = os.environ.get("SK_CNN_EXAMPLE_DATA") == "digits"
if digits:  # 8x8 grayscale, seconds to train
    X, y = load_digits_images()
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.5, stratify=y, random_state=0)
    pretrain_epochs, per_class, finetune_epochs = 3, 50, 8  # a short run
else:  # CIFAR-10, 32x32 color, all of it; SK_CNN_CIFAR10 may name a local copy of it
    cifar10 = os.environ.get("SK_CNN_CIFAR10")
    X_train, y_train = fetch_cifar10("train", source=cifar10)
    X_test, y_test = fetch_cifar10("test", source=cifar10)
    pretrain_epochs, per_class, finetune_epochs = 6, 100, 20
print(f"{len(X_train)} training and {len(X_test)} test images of shape {X_train.shape[1:]}")
out = Path(os.environ.get("SK_CNN_EXAMPLE_OUTPUT", "output"))  # where the results go
out.mkdir(parents=True, exist_ok=True)

classes = np.unique(y_train)  # sorted: class names alphabetically, digits 0-9
old_classes, new_classes = classes[:5], classes[5:]
old = np.isin(y_train, old_classes)
rng = np.random.default_rng(0)
few = np.concatenate([rng.permutation(np.flatnonzero(y_train == c))[:per_class]
                      for c in new_classes])
test_new = np.isin(y_test, new_classes)


def pipeline(**params):
    # Random shifts, and mirrored photos (a mirrored digit may be another digit).
    augment = ImageAugmenter(horizontal_flip=not digits, crop_padding=1 if digits else 4)
    return Pipeline([("norm", ImageNormalizer()), ("aug", augment),
                     ("cnn", CNNClassifier(backbone="resnet18", random_state=0, verbose=0,
                                           **params))])


# %%
# Pretrain on the first five classes
# ----------------------------------
# The weights are saved to a file, from which the fine-tuning below starts.
start = time.perf_counter()
pretrained = pipeline(max_epochs=pretrain_epochs).fit(X_train[old], y_train[old])
print(f"pretrained on {old.sum()} images of classes {', '.join(map(str, old_classes))} in "
      f"{time.perf_counter() - start:.0f} s")
weights = out / "resnet18_first_five.pt"
sk_cnn.save_weights(pretrained, weights)

# %%
# Fine-tune on the other five
# ---------------------------
# From 100 images per new class: every layer at the default learning rate; the lesson's
# cautious recipe (the new head alone for 5 epochs, then everything with the backbone at a
# tenth of the rate); and the same network from scratch.
results = {}
for name, params in {
    "fine-tuned": dict(weights=weights),
    "head first": dict(weights=weights, freeze="backbone", unfreeze_at_epoch=6,
                       backbone_lr_factor=0.1),
    "from scratch": dict(),
}.items():
    start = time.perf_counter()
    model = pipeline(max_epochs=finetune_epochs, **params).fit(X_train[few], y_train[few])
    results[name] = model.score(X_test[test_new], y_test[test_new])
    print(f"{name:>12}: test accuracy on classes {', '.join(map(str, new_classes))} "
          f"{results[name]:.3f}  ({time.perf_counter() - start:.0f} s)")
print(f"fine-tuning gains {results['fine-tuned'] - results['from scratch']:+.3f} with "
      f"{len(few)} training images")

# %%
# The three test accuracies
# -------------------------
fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
bars = ax.bar(list(results), list(results.values()), color=["C0", "C1", "C7"])
ax.bar_label(bars, fmt="%.3f")
ax.set(ylim=(0, 1), ylabel="test accuracy",
       title=f"Classes {', '.join(map(str, new_classes))} from {len(few)} images")
fig.savefig(out / "transfer_learning.png")
print(f"results saved in {out.resolve()}")
