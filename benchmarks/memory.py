"""Peak memory of a CIFAR-10 fit through the estimator API, without any evaluation during it.

ImageNormalizer -> ImageAugmenter(crop_padding=4) -> CNNClassifier defaults,
``validation_fraction=0``, on the 50,000 training images (uint8, 0.14 GiB). Prints the peak
resident memory of the process after loading the data, after the fit, and after scoring the
10,000 test images.

Run: ``cd benchmarks && PYTHONPATH=.. python memory.py EPOCHS`` (about 25 s per epoch on 2 cores).
"""

import resource
import sys
import time

import cifar10_data
from sklearn.pipeline import Pipeline

from sk_cnn import CNNClassifier, ImageAugmenter, ImageNormalizer


def peak_gib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # KiB -> GiB


def main(epochs):
    X, y, X_test, y_test, _ = cifar10_data.load_cifar10()
    print(f"after loading data: {peak_gib():.2f} GiB")
    pipe = Pipeline([("norm", ImageNormalizer()), ("aug", ImageAugmenter(crop_padding=4)),
                     ("cnn", CNNClassifier(max_epochs=epochs, validation_fraction=0,
                                           random_state=0, verbose=0))])
    start = time.perf_counter()
    pipe.fit(X, y)
    print(f"after a {epochs}-epoch fit ({time.perf_counter() - start:.0f} s): {peak_gib():.2f} GiB")
    print(f"test accuracy {pipe.score(X_test, y_test):.4f}; after scoring: {peak_gib():.2f} GiB")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
