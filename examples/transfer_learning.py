"""
Transfer learning: pretrain, save the weights, fine-tune on a new task
======================================================================

The lesson's recipe, offline: a ResNet-18 is pretrained on CIFAR-10 classes 0-4 (airplane,
automobile, bird, cat, deer), its weights are saved with ``sk_cnn.save_weights``, then the same
network is fine-tuned on classes 5-9 (dog, frog, horse, ship, truck) from only 100 images per
class, with the estimator's defaults (every layer trains, 20 epochs). The lesson's cautious
recipe runs beside it: first the new head alone (``freeze="backbone"``), then everything with
a 10x smaller learning rate for the backbone (``unfreeze_at_epoch``, ``backbone_lr_factor``).
Both are compared with the same network trained from scratch on the same 500 images. On this
task the defaults win (benchmarks/backbone_defaults.py measures it over three seeds and three
target tasks).

Reads ``../shared/datasets/cifar10-jpeg.tar.gz`` when present (``SK_CNN_EXAMPLE_DATA=digits``
forces digits, as for the other examples); otherwise it says so and runs
the same steps on sklearn's digits (8x8, upsampled to 32x32 by the backbone), digits 0-4 then
5-9. On CIFAR-10 the pretraining (6 epochs of 25,000 images) is the long part: about 5 minutes
on an idle 2-core machine (see benchmarks/README.md). Pretrained ImageNet weights would
work the same way through ``weights="DEFAULT"`` once the file is in the torch hub cache;
nothing is ever downloaded.
"""

# %%
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.pipeline import Pipeline

import sk_cnn
from sk_cnn import CNNClassifier, ImageAugmenter, ImageNormalizer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import cifar10_data  # noqa: E402
from example_data import cifar10_or_why_not  # noqa: E402

why_not = cifar10_or_why_not()
if why_not is None:
    X_train, y_train, X_test, y_test, names = cifar10_data.load_cifar10()
    source, pretrain_epochs = "CIFAR-10", 6
else:
    print(f"Using sklearn's digits instead of CIFAR-10 ({why_not}).")
    digits = load_digits()
    X_all = (digits.images * 255 / 16).astype(np.uint8)
    y_all = digits.target
    X_train, y_train, X_test, y_test = X_all[::2], y_all[::2], X_all[1::2], y_all[1::2]
    names, source, pretrain_epochs = np.arange(10).astype(str), "digits", 10
names = [str(name) for name in names]

old, new = np.isin(y_train, range(5)), np.isin(y_train, range(5, 10))
rng = np.random.default_rng(0)
few = np.concatenate([rng.permutation(np.flatnonzero(y_train == c))[:100] for c in range(5, 10)])
test_new = np.isin(y_test, range(5, 10))


def pipeline(**params):
    return Pipeline([("norm", ImageNormalizer()), ("aug", ImageAugmenter(crop_padding=4)),
                     ("cnn", CNNClassifier(backbone="resnet18", random_state=0, verbose=0,
                                           **params))])


# %%
# Pretrain on the first five classes and save the network's weights.
start = time.perf_counter()
pretrained = pipeline(max_epochs=pretrain_epochs).fit(X_train[old], y_train[old])
print(f"pretrained on {old.sum()} {source} images of classes {list(names[:5])} in "
      f"{time.perf_counter() - start:.0f} s")
weights = Path(tempfile.mkdtemp()) / "resnet18_first_five.pt"
sk_cnn.save_weights(pretrained, weights)

# %%
# Fine-tune on 100 images per new class: every layer at the default learning rate; the
# lesson's cautious recipe (the new head alone for 5 epochs, then everything with the
# backbone at a tenth of the rate); and the same network from scratch.
results = {}
for name, params in {
    "fine-tuned": dict(weights=weights),
    "head first": dict(weights=weights, freeze="backbone", unfreeze_at_epoch=6,
                       backbone_lr_factor=0.1),
    "from scratch": dict(),
}.items():
    start = time.perf_counter()
    model = pipeline(**params).fit(X_train[few], y_train[few])
    results[name] = model.score(X_test[test_new], y_test[test_new])
    print(f"{name:>12}: test accuracy on classes {list(names[5:])} "
          f"{results[name]:.3f}  ({time.perf_counter() - start:.0f} s)")
print(f"fine-tuning gains {results['fine-tuned'] - results['from scratch']:+.3f} with "
      f"{len(few)} training images")
