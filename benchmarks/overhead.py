"""Wrapper overhead: sk_cnn against a hand-written loop and against plain skorch, side by side.

Same module (sk_cnn's default CNN: conv 32-64-128 with batch norm, global average pool), same
data (10,000 CIFAR-10 training images, uint8; random images of the same shape when the shared
archive is absent: speed does not depend on the pixels), batch 128, Adam, one thread setting:

(a) a hand-written PyTorch loop: channels_last, batches sliced from one uint8 tensor, flips and
    padded random crops (padding 4) as batched tensor operations;
(b) plain skorch ``NeuralNetClassifier``: a Dataset applying torchvision v2 ``RandomCrop`` and
    ``RandomHorizontalFlip`` per sample, DataLoader with default collate, default memory layout
    (what skorch users write today);
(c) the sk_cnn pipeline ``ImageAugmenter(crop_padding=4) -> CNNClassifier`` with defaults
    except ``validation_fraction=0`` and ``lr_schedule=None`` (neither loop has them).

Each variant trains one warm-up epoch, then the median of ``--epochs`` timed epochs is taken;
prediction is timed on the 10,000 images. The variants run in ``--rounds`` interleaved rounds
and each keeps its fastest round. Run: ``cd benchmarks && PYTHONPATH=.. python overhead.py``
(about 4 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import statistics
import time

import cifar10_data
import numpy as np
import torch
from skorch import NeuralNetClassifier
from torchvision.transforms import v2

from sk_cnn import AugmentationSpec, CNNClassifier, ImageAugmenter
from sk_cnn.estimators._parameters import keyword_parameters
from sk_cnn.networks._plain import build_cnn
from sk_cnn.training._augment import augment_batch

BATCH = 128


# The network (the defaults until 2026-11-26), on both sides.
NETWORK = dict(conv_filters=(32, 64, 128), dropout=0.5)


def make_module(seed=0):
    torch.manual_seed(seed)
    defaults = {name: value for name, value in CNNClassifier().get_params().items()
                if name in keyword_parameters(build_cnn)}
    return build_cnn(**{**defaults, "in_channels": 3, "n_outputs": 10, "input_size": (32, 32),
                        **NETWORK})


def hand_loop(X, y, epochs):
    """(a): returns (epoch seconds list, predict seconds)."""
    module = make_module().to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(module.parameters(), lr=2e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    X_t = torch.from_numpy(X).permute(0, 3, 1, 2)  # NCHW view of NHWC memory: channels_last
    y_t = torch.from_numpy(y).long()
    spec = AugmentationSpec(horizontal_flip=True, crop_padding=4)
    times = []
    for _ in range(epochs + 1):
        start = time.perf_counter()
        module.train()
        order = torch.randperm(len(X_t))
        for i in range(0, len(order), BATCH):
            idx = order[i:i + BATCH]
            xb = (X_t[idx].float() / 255).contiguous(memory_format=torch.channels_last)
            xb = augment_batch(xb, spec)
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(module(xb), y_t[idx])
            loss.backward()
            optimizer.step()
        times.append(time.perf_counter() - start)
    start = time.perf_counter()
    module.eval()
    with torch.inference_mode():
        for i in range(0, len(X_t), BATCH):
            xb = (X_t[i:i + BATCH].float() / 255).contiguous(memory_format=torch.channels_last)
            torch.softmax(module(xb), dim=1)
    return times[1:], time.perf_counter() - start


class PerSampleDataset(torch.utils.data.Dataset):
    """What a skorch user writes: torchvision transforms applied image by image."""

    def __init__(self, X, y=None, train=True):
        self.X, self.y = X, y
        self.transform = v2.Compose([v2.RandomCrop(32, padding=4), v2.RandomHorizontalFlip()])
        self.train = train

    def __len__(self):
        return len(self.X)

    def __getitem__(self, i):
        x = torch.from_numpy(self.X[i]).permute(2, 0, 1).float() / 255
        if self.train:
            x = self.transform(x)
        return x, (self.y[i] if self.y is not None else 0)


def plain_skorch(X, y, epochs):
    """(b)."""
    net = NeuralNetClassifier(make_module(), criterion=torch.nn.CrossEntropyLoss,
                              optimizer=torch.optim.Adam, lr=2e-3, batch_size=BATCH,
                              max_epochs=epochs + 1, train_split=None, verbose=0,
                              iterator_train__shuffle=True)
    net.fit(PerSampleDataset(X, y.astype(np.int64)), y=None)
    times = net.history[:, "dur"][1:]
    start = time.perf_counter()
    net.predict_proba(PerSampleDataset(X, None, train=False))
    return times, time.perf_counter() - start


def sk_cnn_pipeline(X, y, epochs):
    """(c)."""
    clf = CNNClassifier(max_epochs=epochs + 1, validation_fraction=0, lr_schedule=None,
                        verbose=0, random_state=0, **NETWORK)
    X_marked = ImageAugmenter(crop_padding=4).fit_transform(X)
    clf.fit(X_marked, y)
    times = clf.history[:, "dur"][1:]
    start = time.perf_counter()
    clf.predict_proba(X)
    return times, time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    if cifar10_data.available():
        X, y, *_ = cifar10_data.load_cifar10()
        X, y = cifar10_data.stratified_subset(X, y, args.n)
        source = "CIFAR-10"
    else:
        rng = np.random.default_rng(0)
        X = rng.integers(0, 256, (args.n, 32, 32, 3), dtype=np.uint8)
        y = rng.integers(0, 10, args.n)
        source = "random images"
    print(f"{args.n} {source} images, batch {BATCH}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, median of {args.epochs} epochs after a warm-up, "
          f"best of {args.rounds} rounds")
    results = {}
    variants = [("(a) hand loop", hand_loop), ("(b) plain skorch", plain_skorch),
                ("(c) sk_cnn", sk_cnn_pipeline)]
    for _ in range(args.rounds):  # interleaved rounds; each variant keeps its fastest round
        for name, run in variants:
            epoch_times, predict = run(X, y, args.epochs)
            epoch = statistics.median(epoch_times)
            print(f"{name:18s} fit epoch {epoch:6.2f} s   predict {predict:5.2f} s", flush=True)
            best = results.get(name, (float("inf"), float("inf")))
            results[name] = (min(best[0], epoch), min(best[1], predict))
    a, b, c = (results[name] for name, _ in variants)
    print()
    print("| ratio | fit epoch | predict |")
    print("|---|---|---|")
    print(f"| (c)/(a) sk_cnn vs hand loop | {c[0] / a[0]:.3f} | {c[1] / a[1]:.3f} |")
    print(f"| (b)/(c) plain skorch vs sk_cnn | {b[0] / c[0]:.3f} | {b[1] / c[1]:.3f} |")


if __name__ == "__main__":
    main()
