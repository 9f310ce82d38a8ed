"""
Training curves: a small CNN with dropout 0.5 and without
==========================================================

The lesson's first practice steps: train a small CNN, track the training and validation
curves, and compare dropout 0.5 with no dropout. The network is the lesson's plain CNN
(two Conv -> ReLU -> max-pool blocks, flattened into a dense layer of 128 units) without batch
normalization or augmentation, trained on a small subset so that overfitting shows quickly.

The data is a class-balanced subset of CIFAR-10, downloaded on first use (170 MB, kept in
scikit-learn's data folder). ``SK_CNN_CIFAR10=<path>`` reads a local copy instead, and
``SK_CNN_EXAMPLE_DATA=digits`` uses sklearn's digits (seconds): the documentation build does,
so the pictures in the online gallery are of digits. The pictures are saved under ``output``
(``SK_CNN_EXAMPLE_OUTPUT`` changes the folder).
"""

# %%
# The data
# --------
import os
import time
from pathlib import Path

from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline

from sk_cnn import CNNClassifier, ImageNormalizer
from sk_cnn.datasets import fetch_cifar10, load_digits_images
from sk_cnn.plotting import compare_histories, plot_history

if os.environ.get("SK_CNN_EXAMPLE_DATA") == "digits":  # 8x8 grayscale, seconds to train
    X, y = load_digits_images()
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=0)
else:  # CIFAR-10, 32x32 color; SK_CNN_CIFAR10 may name a local copy of it
    cifar10 = os.environ.get("SK_CNN_CIFAR10")
    X_train, y_train = fetch_cifar10("train", source=cifar10, n_samples=1500)
    X_test, y_test = fetch_cifar10("test", source=cifar10, n_samples=1000)
print(f"{len(X_train)} training and {len(X_test)} test images of shape {X_train.shape[1:]}")
out = Path(os.environ.get("SK_CNN_EXAMPLE_OUTPUT", "output"))  # where the pictures go
out.mkdir(parents=True, exist_ok=True)

# %%
# Two runs that differ only in dropout
# ------------------------------------
# ``validation_fraction=0.2`` holds out a stratified fifth of the training images; the
# classifier's ``history`` records the loss and accuracy on both parts after every epoch.


def plain_cnn(dropout):
    return Pipeline([
        ("norm", ImageNormalizer()),
        ("cnn", CNNClassifier(conv_filters=(16, 32), batch_norm=False, global_pool="flatten",
                              dense_units=(128,), dropout=dropout, lr_schedule=None,
                              max_epochs=12, validation_fraction=0.2, random_state=0,
                              verbose=0)),
    ])


runs = {}
for name, dropout in [("dropout 0.5", 0.5), ("no dropout", 0.0)]:
    start = time.perf_counter()
    runs[name] = plain_cnn(dropout).fit(X_train, y_train)
    history = runs[name][-1].history
    print(f"{name}: fit in {time.perf_counter() - start:.1f} s, "
          f"final train loss {history[-1, 'train_loss']:.3f}, "
          f"validation loss {history[-1, 'valid_loss']:.3f} "
          f"(best {min(history[:, 'valid_loss']):.3f}), "
          f"test accuracy {runs[name].score(X_test, y_test):.3f}")

# %%
# Training and validation curves of one run
# -----------------------------------------
# The gap between the solid (training) and dashed (validation) curves is the overfitting.
# Dropout is active only while training, so the training loss is measured on a handicapped
# network and can sit above the validation loss.
fig = plot_history(runs["no dropout"])
fig.suptitle("no dropout")
fig.savefig(out / "training_curves_no_dropout.png")

# %%
# Dropout 0.5 versus none
# -----------------------
# On the CIFAR-10 subset, without dropout the training loss keeps falling while the
# validation loss turns up after a few epochs: the network memorizes the small training set.
# With dropout the validation loss stays near its best. Digits are much easier, and there the
# two runs end close together.
fig = compare_histories(runs)
fig.savefig(out / "dropout_comparison.png")
print(f"pictures saved in {out.resolve()}")
