"""How far the learning-rate finder's suggestion lands from the benchmarked default rates.

For the default pipeline of ``defaults.py`` on sklearn digits (1,347 training images) and on
the 5,000-image CIFAR-10 subset (when the shared archive is present), seeds 0, 1, 2, and
``optimizer="adam"`` and ``"sgd"`` (default learning rates 2e-3 and 0.05, chosen by
``defaults.py``): runs ``sk_cnn.lr_find`` with its defaults (1e-7 to 10, at most 100 batches
and one epoch) and prints what each rule suggests and its ratio to the default rate. The
"fastai" columns read the same run's losses as fastai's ``lr_find`` does (paired with the
learning rate of the step after them, a moving average with factor 0.98, the first tenth and
the last 5 points left out): its "valley" rule and its "minimum" (a tenth of the learning
rate of the lowest averaged loss).

``--train`` also fits the pipeline (``defaults.py``'s epochs: 20 on digits, 10 on CIFAR-10)
at the "minimum" suggestion and at the default rate and prints both test accuracies.

Run: ``cd benchmarks && PYTHONPATH=.. python lr_find.py`` (a few minutes on 2 cores;
``--digits-only`` under a minute). ``--save curves.npz`` keeps every curve.
"""

from __future__ import annotations

import argparse
import time

import cifar10_data
import numpy as np
import torch
from defaults import cifar_task, digits_task, run
from sklearn.pipeline import Pipeline

from sk_cnn import CNNClassifier, lr_find
from sk_cnn.training._lr_finder import SUGGESTION_RULES, _valley
from sk_cnn.training._optimizers import resolved_lr

EPOCHS = {"digits": 20, "cifar10 5k": 10}


def fastai_suggestions(result):
    """fastai's "valley" and "minimum" (/10) read off the result's losses as fastai does."""
    # fastai pairs the learning rate of a step with the loss of the batch it trains on,
    # i.e. with the loss after the step before.
    lrs, losses = result.lrs[1:], result.losses[:-1]
    beta, average, smoothed = 0.98, 0.0, []
    for i, loss in enumerate(losses, start=1):
        average = beta * average + (1 - beta) * loss
        smoothed.append(average / (1 - beta ** i))
    n = len(lrs)
    lrs, smoothed = lrs[n // 10:n - 5], np.array(smoothed[n // 10:n - 5])
    return {"fastai valley": float(_valley(lrs, smoothed)),
            "fastai minimum": float(lrs[np.argmin(smoothed)] / 10)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--digits-only", action="store_true")
    parser.add_argument("--cifar-only", action="store_true")
    parser.add_argument("--optimizers", nargs="+", default=["adam", "sgd"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--train", action="store_true",
                        help="fit at the suggestion and at the default; print test accuracy")
    parser.add_argument("--save", help="write every curve to this .npz file")
    args = parser.parse_args()
    tasks = [] if args.cifar_only else [digits_task()]
    if not args.digits_only and cifar10_data.available():
        tasks.append(cifar_task())
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, seeds {args.seeds}")
    rules = [*SUGGESTION_RULES, "fastai valley", "fastai minimum"]
    header = ["data set", "optimizer", "seed", "default lr", "steps", "diverged",
              *[f"{rule} (ratio)" for rule in rules], "s"]
    if args.train:
        header += ["accuracy at minimum", "at default"]
    print("| " + " | ".join(header) + " |")
    print("|---" * len(header) + "|")
    curves, ratios = {}, {}
    for task in tasks:
        name, steps, (Xtr, ytr, _, _) = task
        for optimizer in args.optimizers:
            default = resolved_lr(optimizer, None)
            for seed in args.seeds:
                pipe = Pipeline(steps + [("cnn", CNNClassifier(
                    optimizer=optimizer, random_state=seed, verbose=0))])
                start = time.perf_counter()
                result = lr_find(pipe, Xtr, ytr)
                seconds = time.perf_counter() - start
                suggestions = {**result.suggestions, **fastai_suggestions(result)}
                cells = []
                for rule in rules:
                    ratio = suggestions[rule] / default
                    ratios.setdefault((name, optimizer, rule), []).append(ratio)
                    cells.append(f"{suggestions[rule]:.2g} ({ratio:.2f})")
                if args.train:
                    for lr in (result.suggestions["minimum"], default):
                        accuracy, _ = run(task, dict(optimizer=optimizer, lr=lr), seed,
                                          EPOCHS[name])
                        cells.append(f"{accuracy:.4f}")
                print(f"| {name} | {optimizer} | {seed} | {default:g} | {len(result.lrs)} | "
                      f"{'yes' if result.diverged else 'no'} | {' | '.join(cells[:len(rules)])} "
                      f"| {seconds:.1f} |" + "".join(f" {c} |" for c in cells[len(rules):]),
                      flush=True)
                key = f"{name}/{optimizer}/{seed}"
                curves[f"{key}/lrs"], curves[f"{key}/losses"] = result.lrs, result.losses
    print()
    print("Suggestions within 3x of the default (1/3 <= ratio <= 3):")
    for rule in rules:
        counts = []
        for (name, optimizer, r), values in ratios.items():
            if r == rule:
                counts.append(f"{name} {optimizer} {sum(1 / 3 <= v <= 3 for v in values)}/"
                              f"{len(values)}")
        print(f"- {rule}: {', '.join(counts)}")
    if args.save:
        np.savez(args.save, **curves)


if __name__ == "__main__":
    main()
