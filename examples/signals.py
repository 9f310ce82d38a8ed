"""
Time series: a 1-D CNN on GunPoint
==================================

A real time series data set from the UCR archive, through the data aeon ships in its wheel.
GunPoint: 50 training and 150 test recordings (length 150) of an actor's hand position, drawing
a gun or pointing a finger. The CNN is the lesson's network with Conv1d layers; the pipeline
normalizes per channel and augments every training batch with noise and amplitude scaling.

Needs the timeseries extra (aeon ships the data inside its wheel, no download):
``pip install -e ".[timeseries]"``, then ``python examples/signals.py``.
"""

import time

from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline

from sk_cnn import CNNClassifier, ImageAugmenter, ImageNormalizer

try:
    from aeon.datasets import load_classification
except ImportError as error:
    raise SystemExit('This example needs aeon: pip install -e ".[timeseries]"') from error

X_train, y_train = load_classification("GunPoint", split="train")
X_test, y_test = load_classification("GunPoint", split="test")
print(f"GunPoint: train {X_train.shape}, test {X_test.shape} (samples, channels, length)")

model = Pipeline([
    ("norm", ImageNormalizer(input_type="signal")),
    ("aug", ImageAugmenter(horizontal_flip=False, crop_padding=0, noise=0.05, scaling=0.1)),
    # Tens of series: small batches and many epochs (the default batch of 128 would make one
    # optimizer step per epoch); no validation split, there is too little data to spare.
    ("cnn", CNNClassifier(input_type="signal", conv_filters=(64, 128, 128), kernel_size=7,
                          batch_size=16, max_epochs=150, validation_fraction=0,
                          random_state=0, verbose=0)),
])
start = time.perf_counter()
model.fit(X_train, y_train)
print(f"sk_cnn test accuracy {model.score(X_test, y_test):.3f} "
      f"(fit {time.perf_counter() - start:.0f} s)")
print(model["cnn"].summary())

nn1 = KNeighborsClassifier(1).fit(X_train[:, 0], y_train)
print(f"1-nearest-neighbour (Euclidean) test accuracy {nn1.score(X_test[:, 0], y_test):.3f}")
