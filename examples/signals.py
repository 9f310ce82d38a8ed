"""
Time series: a 1-D CNN on GunPoint
==================================

A real time series data set from the UCR archive, through the data aeon ships in its wheel.
GunPoint: 50 training and 150 test recordings (length 150) of an actor's hand position, drawing
a gun or pointing a finger. The CNN is the lesson's network with Conv1d layers; the pipeline
normalizes per channel and augments every training batch with noise and amplitude scaling.

GunPoint needs aeon (it ships the data inside its wheel, no download):
``pip install aeon``. ``SK_CNN_EXAMPLE_DATA=digits`` needs nothing more than sk_cnn: each of
sklearn's 8x8 digits is read row after row as one signal of 64 values (the documentation
build does this, so the picture in the online gallery is of digits). A few test signals and
their predicted labels are saved under ``output`` (``SK_CNN_EXAMPLE_OUTPUT`` changes the
folder).
"""

# %%
# The data
# --------
import os
import time
from pathlib import Path

import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline

from sk_cnn import CNNClassifier, ImageAugmenter, ImageNormalizer

if os.environ.get("SK_CNN_EXAMPLE_DATA") == "digits":  # signals of 64 values, 10 classes
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X[:, None, :], y, train_size=200, test_size=300, stratify=y, random_state=0)
    max_epochs = 15
else:  # GunPoint: 50 training series, so many passes over them
    try:
        from aeon.datasets import load_classification
    except ImportError as error:
        raise SystemExit("GunPoint needs aeon: pip install aeon") from error
    X_train, y_train = load_classification("GunPoint", split="train")
    X_test, y_test = load_classification("GunPoint", split="test")
    max_epochs = 150
print(f"train {X_train.shape}, test {X_test.shape} (samples, channels, length)")
out = Path(os.environ.get("SK_CNN_EXAMPLE_OUTPUT", "output"))  # where the picture goes
out.mkdir(parents=True, exist_ok=True)

# %%
# A 1-D CNN against the nearest neighbour
# ---------------------------------------
model = Pipeline([
    ("norm", ImageNormalizer(input_type="signal")),
    ("aug", ImageAugmenter(horizontal_flip=False, crop_padding=0, noise=0.05, scaling=0.1)),
    # Few series: small batches (the default batch of 128 would make one optimizer step per
    # epoch); no validation split, there is too little data to spare.
    ("cnn", CNNClassifier(input_type="signal", conv_filters=(64, 128, 128), kernel_size=7,
                          batch_size=16, max_epochs=max_epochs, validation_fraction=0,
                          random_state=0, verbose=0)),
])
start = time.perf_counter()
model.fit(X_train, y_train)
print(f"sk_cnn test accuracy {model.score(X_test, y_test):.3f} "
      f"(fit {time.perf_counter() - start:.0f} s)")
print(model["cnn"].summary())

nn1 = KNeighborsClassifier(1).fit(X_train[:, 0], y_train)
print(f"1-nearest-neighbour (Euclidean) test accuracy {nn1.score(X_test[:, 0], y_test):.3f}")

# %%
# Test signals and their labels
# -----------------------------
# Each panel is one test series, titled "predicted / true", in red when the CNN is wrong.
predicted = model.predict(X_test[:6])
fig, axes = plt.subplots(2, 3, figsize=(9, 5), sharex=True, layout="constrained")
for ax, signal, guess, truth in zip(axes.flat, X_test[:6, 0], predicted, y_test[:6]):
    ax.plot(signal)
    ax.set_title(f"{guess} / {truth}", color="black" if guess == truth else "red")
fig.suptitle("Test signals: predicted / true label")
fig.savefig(out / "signals.png")
print(f"picture saved in {out.resolve()}")
