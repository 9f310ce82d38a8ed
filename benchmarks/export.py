"""Serving speed: onnxruntime and the torch.export program against ``pipeline.predict_proba``.

Latency at batch 1 (milliseconds per call) and throughput at batch 256 (images per second).
Two pipelines with the default network (conv 32-64-128): the README's digits pipeline (float64
rows of 64 pixels in) and a colour pipeline on uint8 32x32x3 images (ImageNormalizer +
CNNClassifier, CIFAR-10's size). Speed does not depend on the weights, so the colour pipeline is
trained for one epoch on random images; every runtime's probabilities are checked against
``predict_proba`` first. Every runtime is limited to the same CPU threads.

Each figure is the fastest of many calls, as ``timeit`` advises: on a machine shared with
other jobs, the slower calls measure the other jobs. The calls come in rounds spread over the
whole run (each round: every pipeline, batch size and runtime in turn, a block of calls each),
so a busy phase of the machine does not hit one runtime only; the first calls of a block are
not timed, since the previous runtime's threads may still be spinning on the cores.

Run: ``cd benchmarks && PYTHONPATH=.. python export.py`` (needs the ``onnx`` extra).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np
import onnxruntime as ort
import torch
from sklearn.datasets import load_digits
from sklearn.pipeline import Pipeline

from sk_cnn import (
    CNNClassifier,
    ImageAugmenter,
    ImageNormalizer,
    ImageReshaper,
    export_onnx,
    export_program,
)

BIG_BATCH = 256


def digits_pipeline():
    """The README's pipeline, 2 epochs on all of digits; 256 rows to predict."""
    X, y = load_digits(return_X_y=True)
    pipe = Pipeline([("reshape", ImageReshaper(image_shape=(8, 8))), ("norm", ImageNormalizer()),
                     ("aug", ImageAugmenter(horizontal_flip=False, crop_padding=1)),
                     ("cnn", CNNClassifier(max_epochs=2, verbose=0, random_state=0))])
    return pipe.fit(X, y), X[:BIG_BATCH]


def colour_pipeline():
    """ImageNormalizer + default CNNClassifier on uint8 (N, 32, 32, 3), 1 epoch of random data."""
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (512, 32, 32, 3), dtype=np.uint8)
    y = rng.integers(0, 10, 512)
    pipe = Pipeline([("norm", ImageNormalizer()),
                     ("cnn", CNNClassifier(max_epochs=1, verbose=0, random_state=0))])
    return pipe.fit(X, y), X[:BIG_BATCH]


def time_block(predict, X, calls, warmup=2):
    """Wall times of ``calls`` calls of ``predict(X)``, after ``warmup`` untimed ones."""
    times = []
    for i in range(warmup + calls):
        start = time.perf_counter()
        predict(X)
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return times


def runtimes(pipe, prefix, threads):
    """name -> function of a numpy batch returning probabilities; files written at prefix."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(export_onnx(pipe, prefix + ".onnx")),
                                   options, providers=["CPUExecutionProvider"])
    program = torch.export.load(export_program(pipe, prefix + ".pt2")).module()
    return {
        "predict_proba": pipe.predict_proba,
        "onnxruntime": lambda X: session.run(None, {"X": X})[0],
        "torch.export": lambda X: program(torch.from_numpy(X)).numpy(),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="CPU threads of every runtime")
    parser.add_argument("--rounds", type=int, default=8, help="rounds of blocks of calls")
    parser.add_argument("--calls", type=int, default=25, help="timed calls per block, batch 1")
    parser.add_argument("--big-calls", type=int, default=5,
                        help=f"timed calls per block, batch {BIG_BATCH}")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    names = ("predict_proba", "onnxruntime", "torch.export")
    load_before = os.getloadavg()[0]

    with tempfile.TemporaryDirectory() as folder:
        cases = []
        for label, make in (("digits, float64 (N, 64)", digits_pipeline),
                            ("colour, uint8 (N, 32, 32, 3)", colour_pipeline)):
            pipe, X = make()
            run = runtimes(pipe, os.path.join(folder, label.split(",")[0]), args.threads)
            reference = pipe.predict_proba(X)
            for name in names[1:]:
                diff = float(np.abs(run[name](X) - reference).max())
                print(f"{label}: {name} max abs difference to predict_proba {diff:.1e}")
            cases.append((label, run, X))

        times = {}  # (label, batch size) -> runtime -> wall times
        for _ in range(args.rounds):
            for label, run, X in cases:
                for batch, calls in ((1, args.calls), (BIG_BATCH, args.big_calls)):
                    for name in names:
                        times.setdefault((label, batch), {}).setdefault(name, []).extend(
                            time_block(run[name], X[:batch], calls))

    print(f"\ntorch {torch.__version__}, onnxruntime {ort.__version__}, {args.threads} threads, "
          f"fastest of {args.rounds * args.calls} calls at batch 1 and "
          f"{args.rounds * args.big_calls} at batch {BIG_BATCH}; 1-minute load average "
          f"{load_before:.1f} before, {os.getloadavg()[0]:.1f} after ({os.cpu_count()} CPUs); "
          f"speed-up = how many times faster than predict_proba\n")
    print("| pipeline | measure | predict_proba | onnxruntime | speed-up | torch.export | "
          "speed-up |")
    print("|---|---|---|---|---|---|---|")
    for (label, batch), by_name in times.items():
        best = {name: min(values) for name, values in by_name.items()}
        if batch == 1:
            measure, values, fmt = "latency at batch 1, ms", {
                name: 1e3 * t for name, t in best.items()}, "{:.2f}"
        else:
            measure, values, fmt = f"throughput at batch {batch}, images/s", {
                name: batch / t for name, t in best.items()}, "{:,.0f}"
        cells = [fmt.format(values["predict_proba"])]
        for name in names[1:]:
            speed_up = best["predict_proba"] / best[name]
            cells += [fmt.format(values[name]), f"{speed_up:.2f}x"]
        print(f"| {label} | {measure} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
