"""Checks of this machine behind figures in benchmarks/README.md.

1. Are the two vCPUs independent cores? Times a single-threaded torch workload (60 conv
   forward/backward steps on a 128 x 32 x 16 x 16 batch) alone, then in two processes at once:
   independent cores give each of the pair the time of the one alone (what the grid-search
   speed-up can hope for).
2. The airbench network's bare training step (no skorch, no augmentation, random data): seconds
   per SGD step on a batch of 1024 CIFAR-sized images, GELU and ReLU (where an epoch's time goes).
3. The same step eager against ``torch.compile`` (what skorch's ``compile=True`` would do), at
   batches of 1024 and 512, interleaved: images per second of three timings each.
4. How close the step comes to what this CPU can compute: the step's floating-point operations
   (``torch.utils.flop_counter``: convolutions and matrix products, forward and backward) per
   image, and its GFLOP/s at batches of 256 and 512, against the GFLOP/s of a large float32
   matrix product (2048 x 2048) on the same threads, interleaved, three timings each.

5. float32 against ``torch.autocast`` in bfloat16 (the classifiers' ``mixed_precision``), bare
   training steps interleaved, three timings each: the airbench network at batch 256 (the
   recipe's) and the plain CNN of the defaults until 2026-11-26 (conv 32-64-128, batch norm,
   ReLU, max pooling) at batch 128, both channels_last. Prints whether torch sees AVX512_BF16
   and AMX on this CPU.
6. channels_last against PyTorch's default (contiguous NCHW) memory layout, the same two bare
   training steps interleaved, three timings each (why sk_cnn keeps images and networks in
   channels_last).
7. ImageLoader decoding large JPEG photos to a small ``size`` with Pillow's draft mode (what
   it does) and without (draft disabled), interleaved, three timings each.

Run: ``cd benchmarks && PYTHONPATH=.. python cpu_checks.py [CHECK ...]``, checks among cores,
step, compile, flops, bfloat16, layout, jpeg (no argument: all seven; about six minutes;
compiling takes about 30 s a network).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from sk_cnn.training._precision import autocast

WORKLOAD = """
import time, torch
torch.set_num_threads(1)
x = torch.randn(128, 32, 16, 16).contiguous(memory_format=torch.channels_last)
conv = torch.nn.Conv2d(32, 64, 3, padding=1).to(memory_format=torch.channels_last)
for _ in range(3):
    conv(x)
start = time.perf_counter()
for _ in range(60):
    conv(x).sum().backward()
print(time.perf_counter() - start)
"""


def _run_workloads(n: int) -> list[float]:
    processes = [subprocess.Popen([sys.executable, "-c", WORKLOAD], stdout=subprocess.PIPE,
                                  text=True) for _ in range(n)]
    return [float(p.communicate()[0]) for p in processes]


def airbench_step(activation: str, batch_size: int = 1024, compile: bool = False,
                  bfloat16: bool = False, channels_last: bool = True):
    """A function running one bare SGD step of the airbench network on random data."""
    from sk_cnn.networks._airbench import build_airbench

    torch.manual_seed(0)
    net = build_airbench(in_channels=3, n_outputs=10, input_size=(32, 32),
                         conv_filters=(32, 128, 128), activation=activation)
    return training_step(net, batch_size, compile, bfloat16, channels_last)


def plain_cnn_step(batch_size: int = 128, bfloat16: bool = False, channels_last: bool = True):
    """A function running one bare SGD step of the plain CNN (conv 32-64-128) on random data."""
    from sk_cnn import CNNClassifier
    from sk_cnn.estimators._parameters import keyword_parameters
    from sk_cnn.networks._plain import build_cnn

    torch.manual_seed(0)
    defaults = {name: value for name, value in CNNClassifier().get_params().items()
                if name in keyword_parameters(build_cnn)}
    net = build_cnn(**{**defaults, "in_channels": 3, "n_outputs": 10, "input_size": (32, 32),
                       "conv_filters": (32, 64, 128)})
    return training_step(net, batch_size, bfloat16=bfloat16, channels_last=channels_last)


def training_step(net, batch_size: int, compile: bool = False, bfloat16: bool = False,
                  channels_last: bool = True):
    """One SGD step of ``net`` on a random CIFAR-sized batch, warmed up; channels_last
    network and batch unless ``channels_last=False`` (PyTorch's default layout).

    With ``bfloat16`` the forward pass runs under ``torch.autocast`` in bfloat16 and the loss
    in float32, as the classifiers' ``mixed_precision="bfloat16"`` does.
    """
    layout = torch.channels_last if channels_last else torch.contiguous_format
    net = net.to(memory_format=layout)
    forward = torch.compile(net) if compile else net
    x = torch.randn(batch_size, 3, 32, 32).contiguous(memory_format=layout)
    y = torch.randint(0, 10, (batch_size,))
    optimizer = torch.optim.SGD([p for p in net.parameters() if p.requires_grad], lr=0.1,
                                momentum=0.85, nesterov=True)
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=0.2)

    def step():
        optimizer.zero_grad(set_to_none=True)
        with autocast("bfloat16" if bfloat16 else None, x.device):
            output = forward(x)
        loss_fn(output.float(), y).backward()
        optimizer.step()

    for _ in range(2):  # warm-up (and compilation)
        step()
    return step


def seconds_per_step(step, steps: int = 5) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - start) / steps


def airbench_step_seconds(activation: str, steps: int = 5) -> float:
    return seconds_per_step(airbench_step(activation), steps)


def step_flops(step) -> int:
    """Floating-point operations of one call of ``step`` (convolutions and matrix products)."""
    with FlopCounterMode(display=False) as counter:
        step()
    return counter.get_total_flops()


def matmul_step(size: int = 2048):
    """A function running one float32 ``size`` x ``size`` matrix product."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    return lambda: torch.mm(a, b)


def check_cores():
    alone = _run_workloads(1)[0]
    pair = _run_workloads(2)
    print(f"1-thread workload: alone {alone:.2f} s; two at once {pair[0]:.2f} s and "
          f"{pair[1]:.2f} s (ratio {max(pair) / alone:.2f}; 1.0 = independent cores)")


def check_step():
    for activation in ("gelu", "relu"):
        print(f"airbench bare SGD step, batch 1024, {activation}: "
              f"{airbench_step_seconds(activation):.2f} s")


def check_flops():
    steps = {f"airbench step, batch {b}": (airbench_step("gelu", b), b) for b in (256, 512)}
    steps["matrix product 2048 x 2048"] = (matmul_step(), None)
    flops = {name: step_flops(step) for name, (step, _) in steps.items()}
    for name, (_, batch_size) in steps.items():
        if batch_size:
            print(f"{name}: {flops[name] / batch_size / 1e6:.0f} MFLOP per image")
    rates = {name: [] for name in steps}
    for _ in range(3):
        for name, (step, _) in steps.items():
            rates[name].append(flops[name] / seconds_per_step(step, 3) / 1e9)
    for name, r in rates.items():
        print(f"{name}: GFLOP/s {', '.join(f'{v:.0f}' for v in r)}")


def check_compile():
    # torch.compile (inductor) against eager, and batch 512 against 1024, interleaved
    start = time.perf_counter()
    steps = {(b, c): airbench_step("gelu", b, c) for b in (1024, 512) for c in (False, True)}
    print(f"(built and warmed up, compilation included, in {time.perf_counter() - start:.0f} s)")
    rates = {key: [] for key in steps}
    for _ in range(3):
        for (batch_size, compiled), step in steps.items():
            rates[batch_size, compiled].append(batch_size / seconds_per_step(step, 3))
    for (batch_size, compiled), r in rates.items():
        print(f"airbench bare SGD step, batch {batch_size}, gelu, "
              f"{'torch.compile' if compiled else 'eager'}: images/s "
              f"{', '.join(f'{v:.0f}' for v in r)}")


def compare_steps(steps: dict, names: dict) -> None:
    """Time bare training steps keyed ``(network, batch size, option on)`` interleaved, three
    timings each, and print images/s and the on/off ratio of the medians per network."""
    rates = {key: [] for key in steps}
    for _ in range(3):
        for key, step in steps.items():
            rates[key].append(key[1] / seconds_per_step(step, 5))
    for (name, batch_size, on), r in rates.items():
        print(f"{name} bare SGD step, batch {batch_size}, {names[on]}: images/s "
              f"{', '.join(f'{v:.0f}' for v in r)}")
    for name, batch_size in sorted({(n, b) for n, b, _ in steps}):
        ratio = (statistics.median(rates[name, batch_size, True])
                 / statistics.median(rates[name, batch_size, False]))
        print(f"{name}: {names[True]} / {names[False]} images/s (medians) {ratio:.2f}")


def check_bfloat16():
    cpu = torch.cpu
    print(f"AVX512_BF16 {cpu._is_avx512_bf16_supported()}, AMX {cpu._is_amx_tile_supported()}")
    steps = {}
    for bfloat16 in (False, True):
        steps["airbench", 256, bfloat16] = airbench_step("gelu", 256, bfloat16=bfloat16)
        steps["plain CNN", 128, bfloat16] = plain_cnn_step(128, bfloat16=bfloat16)
    compare_steps(steps, {True: "bfloat16 autocast", False: "float32"})


def check_layout():
    steps = {}
    for channels_last in (False, True):
        steps["airbench", 256, channels_last] = airbench_step("gelu", 256,
                                                              channels_last=channels_last)
        steps["plain CNN", 128, channels_last] = plain_cnn_step(128, channels_last=channels_last)
    compare_steps(steps, {True: "channels_last", False: "contiguous (NCHW)"})


def check_jpeg(n_files: int = 16, size=(64, 64)):
    import tempfile
    from pathlib import Path

    import numpy as np
    from PIL import Image, JpegImagePlugin

    from sk_cnn import ImageLoader

    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for i in range(n_files):  # smooth 3000 x 2000 "photos" with some texture
            small = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
            photo = Image.fromarray(small).resize((3000, 2000), Image.Resampling.BICUBIC)
            noise = rng.integers(-12, 13, (2000, 3000, 3))
            photo = Image.fromarray(np.clip(np.asarray(photo) + noise, 0, 255).astype(np.uint8))
            paths.append(str(Path(folder) / f"photo{i}.jpg"))
            photo.save(paths[-1], quality=90)
        draft = JpegImagePlugin.JpegImageFile.draft
        seconds = {True: [], False: []}
        for _ in range(3):
            for use_draft in (True, False):
                if not use_draft:  # decode every pixel, then resize
                    JpegImagePlugin.JpegImageFile.draft = lambda self, mode, size: None
                try:
                    start = time.perf_counter()
                    ImageLoader(size=size).fit_transform(paths)
                    seconds[use_draft].append(time.perf_counter() - start)
                finally:
                    JpegImagePlugin.JpegImageFile.draft = draft
    for use_draft, s in seconds.items():
        print(f"ImageLoader(size={size}) on {n_files} JPEGs of 3000 x 2000, "
              f"{'draft mode' if use_draft else 'draft disabled'}: s "
              f"{', '.join(f'{v:.2f}' for v in s)}")
    print(f"draft mode speed-up (medians): "
          f"{statistics.median(seconds[False]) / statistics.median(seconds[True]):.1f}x")


CHECKS = {"cores": check_cores, "step": check_step, "compile": check_compile,
          "flops": check_flops, "bfloat16": check_bfloat16, "layout": check_layout,
          "jpeg": check_jpeg}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checks", nargs="*", metavar="CHECK",
                        help=f"checks to run among {', '.join(CHECKS)} (default: all)")
    args = parser.parse_args()
    unknown = sorted(set(args.checks) - set(CHECKS))
    if unknown:  # argparse's choices reject an empty nargs="*" list on Python 3.11
        parser.error(f"unknown check(s) {unknown}; choose among {list(CHECKS)}")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    for name in args.checks or CHECKS:
        CHECKS[name]()


if __name__ == "__main__":
    main()
