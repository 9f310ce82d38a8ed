"""CIFAR-10 through the estimator API: test accuracy against minutes of fitting, and memory.

ImageNormalizer -> ImageAugmenter(flips, crop_padding=4) -> CNNClassifier on the full 50,000
training images of the team's JPEG copy (uint8 arrays from ``cifar10_data.py``), evaluated on
the 10,000 test images after every epoch. The evaluation time is excluded from the fit minutes.
Prints the accuracy table, images/s and the peak resident memory of the whole process.

Run: ``cd benchmarks && PYTHONPATH=.. python cifar10.py --epochs 10`` (about 1 minute per epoch
of the default network on 2 cores). Options choose the network (``--filters``) and TTA.

``--recipe airbench`` trains ``CNNClassifier(**sk_cnn.recipes.airbench_params())`` (the fast
recipe: whitened first layer, Muon for the filters and Nesterov SGD for the rest on batches of
256, lookahead, label smoothing, bfloat16 where the CPU computes it natively) after
``ImageNormalizer(dtype="float16")`` and ``ImageAugmenter(horizontal_flip="alternate",
crop_padding=2, padding_mode="reflect")``; ``--filters``, ``--epochs``, ``--batch-size``,
``--tta``, ``--normalize-dtype``, ``--padding-mode``, ``--flip``, ``--optimizer``, ``--muon-lr``
and ``--mixed-precision`` override the recipe's values when given (``lr`` scales with the batch
size). ``--n-train`` trains on n images drawn at random (reduced-scale runs), ``--eval-epochs``
limits the per-epoch test evaluation (it costs time that is excluded from the fit minutes, most
with ``tta="flip_translate"``), and ``--final-tta`` reports the fitted model's test accuracy
under each TTA at the end.
"""

from __future__ import annotations

import argparse
import resource
import time

import cifar10_data
import numpy as np
import torch
from sklearn.pipeline import Pipeline
from skorch.callbacks import Callback

from sk_cnn import CNNClassifier, ImageAugmenter, ImageNormalizer
from sk_cnn.recipes import airbench_params
from sk_cnn.training import has_fast_bfloat16


class TestAccuracy(Callback):
    """Evaluate the pipeline's test accuracy after every epoch, timing fit and evaluation."""

    def __init__(self, pipe, X_test, y_test, epochs=None):
        self.pipe, self.X_test, self.y_test, self.epochs = pipe, X_test, y_test, epochs

    def on_train_begin(self, net, **kwargs):
        self.start_, self.eval_seconds_, self.rows_ = time.perf_counter(), 0.0, []

    def on_epoch_end(self, net, **kwargs):
        if self.epochs is not None and len(net.history) not in self.epochs:
            minutes = (time.perf_counter() - self.start_ - self.eval_seconds_) / 60
            print(f"| {len(net.history)} | {minutes:.2f} | - |", flush=True)
            return
        begin = time.perf_counter()
        X = self.pipe["norm"].transform(self.X_test)
        accuracy = float(np.mean(net.predict(X) == self.y_test))
        self.eval_seconds_ += time.perf_counter() - begin
        minutes = (time.perf_counter() - self.start_ - self.eval_seconds_) / 60
        self.rows_.append((len(net.history), minutes, accuracy))
        print(f"| {len(net.history)} | {minutes:.2f} | {accuracy:.4f} |", flush=True)


def tta_accuracies(pipe, X_test, y_test):
    """Test accuracy of the fitted pipeline without TTA, with flip and with flip + translate.

    Returns ``{tta: (accuracy, seconds to predict)}``. Sets the classifier's ``tta`` directly
    (``set_params`` would recurse into callbacks that hold the pipeline); it is left at
    "flip_translate".
    """
    cnn, X = pipe["cnn"], pipe["norm"].transform(X_test)
    results = {}
    for tta in (None, "flip", "flip_translate"):
        begin = time.perf_counter()
        cnn.tta = tta
        results[tta] = (float(np.mean(cnn.predict(X) == y_test)), time.perf_counter() - begin)
    return results


def add_pipeline_arguments(parser):
    """The options that choose the pipeline (shared with memory.py)."""
    parser.add_argument("--recipe", choices=["plain", "airbench"], default="plain")
    parser.add_argument("--epochs", type=int, default=None,
                        help="default: 10 (plain), the recipe's 13 (airbench)")
    parser.add_argument("--filters", type=int, nargs="+", default=None,
                        help="default: 32 64 128 (plain), the recipe's 48 192 192 (airbench)")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--lr", type=float, default=None,
                        help="default: the optimizer's (plain), the recipe's 0.375 for batch 256, "
                             "scaled linearly with --batch-size (airbench)")
    parser.add_argument("--optimizer", choices=["adam", "sgd", "muon"], default=None,
                        help="default: the recipe's (plain: adam; airbench: see airbench_params)")
    parser.add_argument("--muon-lr", type=float, default=None,
                        help="the filters' learning rate when the optimizer is muon "
                             "(default 0.05); ignored with the others")
    parser.add_argument("--dropout", type=float, default=0.5, help="plain recipe only")
    parser.add_argument("--tta", choices=["none", "flip", "flip_translate"], default=None,
                        help="default: none (plain), the recipe's flip_translate (airbench)")
    parser.add_argument("--padding-mode", choices=["constant", "reflect"], default=None,
                        help="ImageAugmenter's padding_mode; default: constant (plain), "
                             "reflect (airbench)")
    parser.add_argument("--flip", choices=["random", "alternate"], default=None,
                        help="ImageAugmenter's horizontal_flip: True (random) or 'alternate'; "
                             "default: random (plain), alternate (airbench)")
    parser.add_argument("--mixed-precision", choices=["auto", "bfloat16", "none"], default=None,
                        help="the classifier's mixed_precision; default: the recipe's")
    parser.add_argument("--seed", type=int, default=0, help="the classifier's random_state")
    parser.add_argument("--normalize-dtype", choices=["float32", "float16"], default=None,
                        help="ImageNormalizer's output dtype (float16: half the memory); "
                             "default: float32 (plain), float16 (airbench)")


def build_pipeline(args, recipe_device="cpu"):
    """ImageNormalizer -> ImageAugmenter -> CNNClassifier as the options say.

    ``recipe_device``: whose settings the airbench recipe starts from (``airbench_params``).
    """
    if args.recipe == "airbench":
        params = airbench_params(device=recipe_device)
        augmenter = ImageAugmenter(horizontal_flip="alternate", crop_padding=2,
                                   padding_mode="reflect")
    else:
        params = {"max_epochs": 10, "batch_size": 128, "dropout": args.dropout}
        augmenter = ImageAugmenter(crop_padding=4)
    if args.flip is not None:
        augmenter.set_params(horizontal_flip="alternate" if args.flip == "alternate" else True)
    if args.padding_mode is not None:
        augmenter.set_params(padding_mode=args.padding_mode)
    given = {"max_epochs": args.epochs, "batch_size": args.batch_size, "optimizer": args.optimizer,
             "conv_filters": None if args.filters is None else tuple(args.filters)}
    if args.recipe == "airbench" and args.batch_size is not None:
        params["lr"] *= args.batch_size / params["batch_size"]
    params.update({k: v for k, v in given.items() if v is not None})
    if args.lr is not None:
        params["lr"] = args.lr
    if args.tta is not None:
        params["tta"] = None if args.tta == "none" else args.tta
    if params.get("optimizer") != "muon":
        params.pop("optimizer__muon_lr", None)  # the GPU recipe's; other optimizers refuse it
    elif args.muon_lr is not None:
        params["optimizer__muon_lr"] = args.muon_lr
    if args.mixed_precision is not None:
        params["mixed_precision"] = None if args.mixed_precision == "none" else args.mixed_precision
    params.update(validation_fraction=0, random_state=args.seed, verbose=0)
    dtype = args.normalize_dtype or ("float16" if args.recipe == "airbench" else "float32")
    return Pipeline([("norm", ImageNormalizer(dtype=dtype)),
                     ("aug", augmenter),
                     ("cnn", CNNClassifier(**params))])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_pipeline_arguments(parser)
    parser.add_argument("--n-train", type=int, default=None,
                        help="n training images drawn at random (seed 0)")
    parser.add_argument("--eval-epochs", type=int, nargs="*", default=None,
                        help="epochs after which to evaluate (default: all; none: only the last); "
                             "the others print their fit minutes only")
    parser.add_argument("--final-tta", action="store_true",
                        help="at the end, test accuracy without TTA, with flip, flip_translate")
    args = parser.parse_args()

    if not cifar10_data.available():
        raise SystemExit(f"CIFAR-10 archive not found at {cifar10_data.ARCHIVE}")
    X_train, y_train, X_test, y_test, _ = cifar10_data.load_cifar10()
    if args.n_train is not None:
        X_train, y_train = cifar10_data.random_subset(X_train, y_train, args.n_train)
    pipe = build_pipeline(args)
    cnn = pipe["cnn"]
    epochs = cnn.max_epochs
    eval_epochs = None if args.eval_epochs is None else set(args.eval_epochs) | {epochs}
    scorer = TestAccuracy(pipe, X_test, y_test, eval_epochs)
    cnn.set_params(callbacks=[("test_accuracy", scorer)])
    lr = "the optimizer's default" if cnn.lr is None else f"{cnn.lr:g}"
    print(f"CIFAR-10 {len(X_train)} train / {len(X_test)} test, recipe {args.recipe}, filters "
          f"{list(cnn.conv_filters)}, {cnn.optimizer}, batch {cnn.batch_size}, lr {lr}, "
          f"{epochs} epochs, mixed precision {cnn.mixed_precision} (native bfloat16 on this CPU: "
          f"{has_fast_bfloat16(torch.device('cpu'))}), tta "
          f"{cnn.tta}, normalized to {pipe['norm'].dtype}, padding "
          f"{pipe['aug'].padding_mode}, horizontal_flip {pipe['aug'].horizontal_flip}, "
          f"seed {cnn.random_state}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print("| epoch | fit minutes | test accuracy |")
    print("|---|---|---|")
    start = time.perf_counter()
    pipe.fit(X_train, y_train)
    total = time.perf_counter() - start - scorer.eval_seconds_
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # KiB -> GiB
    print(f"\nfit {total / 60:.2f} min ({len(X_train) * epochs / total:.0f} images/s), "
          f"final test accuracy {scorer.rows_[-1][2]:.4f}, peak RSS {peak:.2f} GiB "
          f"(uint8 training set: {X_train.nbytes / 1024**3:.2f} GiB)")
    if args.final_tta:
        for tta, (accuracy, seconds) in tta_accuracies(pipe, X_test, y_test).items():
            print(f"test accuracy with tta={tta}: {accuracy:.4f} ({seconds:.1f} s to predict)")


if __name__ == "__main__":
    main()
