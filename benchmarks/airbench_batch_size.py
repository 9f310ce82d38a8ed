"""Training speed of the airbench recipe at several batch sizes, side by side in one process.

The recipe's default batch size decides its speed and its memory (activations grow with the
batch). This script fits ``CNNClassifier(**airbench_params())`` on the CIFAR-10 training images
(``ImageNormalizer(dtype="float16") -> ImageAugmenter(crop_padding=2)``), alternating the
batch sizes (``lr`` scaled linearly) so that all see the same machine state, and prints the
images per second of each fit's epochs (skorch's ``dur``) and each median's ratio to the
first batch size's.
Memory of each batch size: ``memory.py 2 --recipe airbench --batch-size N``.

Run: ``cd benchmarks && PYTHONPATH=.. python airbench_batch_size.py [--epochs 2] [--repeats 2]
[--batch-sizes 512 256] [--n-train N]`` (about 1 minute per epoch on 50,000 images on 2 cores).
"""

import argparse
import statistics

import cifar10_data

from sk_cnn import CNNClassifier, ImageAugmenter, ImageNormalizer
from sk_cnn.recipes import airbench_params


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[512, 256])
    parser.add_argument("--n-train", type=int, default=None)
    args = parser.parse_args()
    X, y, _, _, _ = cifar10_data.load_cifar10()
    if args.n_train is not None:
        X, y = cifar10_data.random_subset(X, y, args.n_train)
    X = ImageAugmenter(crop_padding=2).fit_transform(ImageNormalizer(dtype="float16")
                                                      .fit_transform(X))
    recipe = airbench_params(max_epochs=args.epochs)
    speeds = {batch_size: [] for batch_size in args.batch_sizes}
    print(f"{len(X)} training images, {args.epochs} epochs a fit")
    print("| batch | images/s of each epoch |")
    print("|---|---|")
    for _ in range(args.repeats):
        for batch_size in speeds:
            params = dict(recipe, batch_size=batch_size, random_state=0, verbose=0,
                          lr=recipe["lr"] * batch_size / recipe["batch_size"])
            clf = CNNClassifier(**params).fit(X, y)
            rates = [len(X) / row["dur"] for row in clf.history]
            speeds[batch_size] += rates
            print(f"| {batch_size} | {', '.join(f'{r:.0f}' for r in rates)} |", flush=True)
    base = args.batch_sizes[0]
    median = {b: statistics.median(r) for b, r in speeds.items()}
    print(f"\n| batch | median images/s | ratio to batch {base} |")
    print("|---|---|---|")
    for batch_size, rate in median.items():
        print(f"| {batch_size} | {rate:.0f} | {rate / median[base]:.2f} |")


if __name__ == "__main__":
    main()
