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
   recipe's) and the default plain CNN (conv 32-64-128, batch norm, ReLU, max pooling) at
   batch 128, both channels_last. Prints whether torch sees AVX512_BF16 and AMX on this CPU.

Run: ``cd benchmarks && PYTHONPATH=.. python cpu_checks.py [CHECK ...]``, checks among cores,
step, compile, flops, bfloat16 (no argument: all five; about five minutes; compiling takes
about 30 s a network).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from sk_cnn.precision import autocast

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
                  bfloat16: bool = False):
    """A function running one bare SGD step of the airbench network on random data."""
    from sk_cnn.fastnet import build_airbench

    torch.manual_seed(0)
    net = build_airbench(in_channels=3, n_outputs=10, input_size=(32, 32),
                         conv_filters=(32, 128, 128), activation=activation)
    return training_step(net, batch_size, compile, bfloat16)


def plain_cnn_step(batch_size: int = 128, bfloat16: bool = False):
    """A function running one bare SGD step of the default plain CNN on random data."""
    from sk_cnn.modules import build_cnn

    torch.manual_seed(0)
    net = build_cnn(in_channels=3, n_outputs=10, input_size=(32, 32))
    return training_step(net, batch_size, bfloat16=bfloat16)


def training_step(net, batch_size: int, compile: bool = False, bfloat16: bool = False):
    """One channels_last SGD step of ``net`` on a random CIFAR-sized batch, warmed up.

    With ``bfloat16`` the forward pass runs under ``torch.autocast`` in bfloat16 and the loss
    in float32, as the classifiers' ``mixed_precision="bfloat16"`` does.
    """
    net = net.to(memory_format=torch.channels_last)
    forward = torch.compile(net) if compile else net
    x = torch.randn(batch_size, 3, 32, 32).contiguous(memory_format=torch.channels_last)
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


def check_bfloat16():
    cpu = torch.cpu
    print(f"AVX512_BF16 {cpu._is_avx512_bf16_supported()}, AMX {cpu._is_amx_tile_supported()}")
    steps = {}
    for bfloat16 in (False, True):
        steps["airbench", 256, bfloat16] = airbench_step("gelu", 256, bfloat16=bfloat16)
        steps["plain CNN", 128, bfloat16] = plain_cnn_step(128, bfloat16=bfloat16)
    rates = {key: [] for key in steps}
    for _ in range(3):
        for (name, batch_size, bfloat16), step in steps.items():
            rates[name, batch_size, bfloat16].append(batch_size / seconds_per_step(step, 5))
    for (name, batch_size, bfloat16), r in rates.items():
        print(f"{name} bare SGD step, batch {batch_size}, "
              f"{'bfloat16 autocast' if bfloat16 else 'float32'}: images/s "
              f"{', '.join(f'{v:.0f}' for v in r)}")
    for name, batch_size in {(n, b) for n, b, _ in steps}:
        ratio = (statistics.median(rates[name, batch_size, True])
                 / statistics.median(rates[name, batch_size, False]))
        print(f"{name}: bfloat16 / float32 images/s (medians) {ratio:.2f}")


CHECKS = {"cores": check_cores, "step": check_step, "compile": check_compile,
          "flops": check_flops, "bfloat16": check_bfloat16}


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
