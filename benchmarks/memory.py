"""Peak memory of a CIFAR-10 fit through the estimator API, without any evaluation during it.

The pipeline of ``cifar10.py`` (same options: ``--recipe``, ``--batch-size``,
``--normalize-dtype``, ...; by default ImageNormalizer -> ImageAugmenter(crop_padding=4) ->
CNNClassifier defaults), ``validation_fraction=0``, on the 50,000 training images (uint8,
0.14 GiB). Prints the peak resident memory of the process after importing, after loading the
data, after the fit, and after scoring the 10,000 test images.

Run: ``cd benchmarks && PYTHONPATH=.. python memory.py EPOCHS [options]`` (about 25 s per
epoch of the default network on 2 cores), e.g.
``python memory.py 2 --recipe airbench --batch-size 1024 --normalize-dtype float32``.
"""

import argparse
import resource
import time

import cifar10_data
from cifar10 import add_pipeline_arguments, build_pipeline


def peak_gib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # KiB -> GiB


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n_epochs", metavar="EPOCHS", type=int, nargs="?", default=2)
    add_pipeline_arguments(parser)
    args = parser.parse_args()
    args.epochs = args.epochs or args.n_epochs  # --epochs (cifar10.py's option) or EPOCHS
    print(f"after importing: {peak_gib():.2f} GiB")
    X, y, X_test, y_test, _ = cifar10_data.load_cifar10()
    print(f"after loading data: {peak_gib():.2f} GiB")
    pipe = build_pipeline(args)
    cnn = pipe["cnn"]
    print(f"recipe {args.recipe}, batch {cnn.batch_size}, {cnn.max_epochs} epochs, normalized to "
          f"{pipe['norm'].dtype}")
    start = time.perf_counter()
    pipe.fit(X, y)
    print(f"after a {cnn.max_epochs}-epoch fit ({time.perf_counter() - start:.0f} s): "
          f"{peak_gib():.2f} GiB ({peak_gib() * 1.073741824:.2f} GB)")
    print(f"test accuracy {pipe.score(X_test, y_test):.4f}; after scoring: {peak_gib():.2f} GiB")


if __name__ == "__main__":
    main()
