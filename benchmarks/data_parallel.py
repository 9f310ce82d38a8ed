"""strategy="ddp" on the CPU: one process with 2 torch threads against 2 processes (torchrun,
gloo) with 1 thread each, on the same batches.

The default CNNClassifier (4 blocks, BatchNorm) on 4,096 random 32x32 RGB images of 10
classes, batch_size=128, 3 epochs, no validation split. Each process of the ddp fit trains on
64 samples of every batch of 128; the one-process fit on all 128. Times the fit only (data
made and torch imported before), best of two runs each; also one process with 1 thread. On a
machine with 2 cores this measures what the gradient exchange costs against a second thread,
not the speed-up of several GPUs.

Run: ``python benchmarks/data_parallel.py`` from the repository root (about 2 minutes).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

N_SAMPLES, SIZE, N_CLASSES = 4096, 32, 10
PARAMS = {"batch_size": 128, "max_epochs": 3, "validation_fraction": None, "random_state": 0,
          "verbose": 0, "device": "cpu"}


def data():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (N_SAMPLES, SIZE, SIZE, 3), dtype=np.uint8)
    y = rng.integers(0, N_CLASSES, N_SAMPLES)
    return X, y


def timed_fit(**params) -> float:
    from sk_cnn import CNNClassifier

    X, y = data()
    clf = CNNClassifier(**PARAMS, **params)
    if params.get("strategy") == "ddp":
        import torch.distributed as dist

        # Join first (fit uses the group it finds), so that the timing starts when both
        # processes are ready.
        dist.init_process_group("gloo")
        dist.barrier()
    start = time.perf_counter()
    clf.fit(X, y)
    return time.perf_counter() - start


def worker():
    torch.set_num_threads(1)
    seconds = timed_fit(strategy="ddp")
    if int(os.environ["RANK"]) == 0:
        print(json.dumps({"seconds": seconds}), flush=True)


def ddp_run() -> float:
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
         __file__, "--worker"], env=env, capture_output=True, text=True, check=True)
    line = next(line for line in result.stdout.splitlines() if line.startswith("{"))
    return json.loads(line)["seconds"]


def main():
    runs = {"1 process x 2 threads": [], "2 processes x 1 thread (ddp)": [],
            "1 process x 1 thread": []}
    for _ in range(2):  # interleaved; the faster run counts
        torch.set_num_threads(2)
        runs["1 process x 2 threads"].append(timed_fit())
        runs["2 processes x 1 thread (ddp)"].append(ddp_run())
        torch.set_num_threads(1)
        runs["1 process x 1 thread"].append(timed_fit())
        print({k: [round(s, 1) for s in v] for k, v in runs.items()}, flush=True)
    base = min(runs["1 process x 2 threads"])
    print(f"\n{'':32} {'fit (s)':>8} {'per epoch (s)':>14} {'vs 1x2':>7}")
    for name, seconds in runs.items():
        best = min(seconds)
        print(f"{name:32} {best:8.1f} {best / PARAMS['max_epochs']:14.2f} "
              f"{best / base:6.2f}x")


if __name__ == "__main__":
    if "--worker" in sys.argv:
        worker()
    else:
        main()
