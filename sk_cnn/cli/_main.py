"""The ``sk-cnn`` command line: its parser, and ``main``, which runs a sub-command.

Building the parser imports neither torch nor scikit-learn (seconds): ``sk-cnn --help`` answers
at once, and a sub-command imports them when it runs.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

from .._version import __version__
from ._errors import CLIError
from ._output import log, plain_streams, silence_broken_pipe, tolerant_streams

PICKLE_NOTE = ("MODEL is read with sk_cnn.load when it ends in .safetensors (no code from the "
               "file runs); a joblib pickle (.joblib, .pkl) runs any code it holds, so it is "
               "read only with --allow-pickle.")

#: Exit status when stdout is a pipe closed early (``sk-cnn ... | head -1``): 128 + SIGPIPE,
#: what a shell reports for a program that the signal ended.
BROKEN_PIPE_STATUS = 141


def estimator_defaults(*names: str) -> dict:
    """The defaults of :class:`~sk_cnn.CNNClassifier`'s parameters ``names``, read from the
    signature in its source file, which declares them once: importing the class would import
    torch just to show ``--help``."""
    source = Path(__file__).resolve().parents[1] / "estimators" / "_classifier.py"
    tree = ast.parse(source.read_text(encoding="utf-8"))
    cls = next(node for node in tree.body
               if isinstance(node, ast.ClassDef) and node.name == "CNNClassifier")
    init = next(node for node in cls.body
                if isinstance(node, ast.FunctionDef) and node.name == "__init__")
    arguments = init.args
    pairs = list(zip(arguments.args[len(arguments.args) - len(arguments.defaults):],
                     arguments.defaults))
    pairs += [(arg, default) for arg, default in zip(arguments.kwonlyargs, arguments.kw_defaults)
              if default is not None]
    defaults = {arg.arg: default for arg, default in pairs}
    return {name: ast.literal_eval(defaults[name]) for name in names}


def _add_augmentation_switches(parser, flip: bool, shift: str) -> None:
    parser.add_argument(
        "--flip", action=argparse.BooleanOptionalAction, default=flip,
        help="random left-right flips of the training images: right for photos of objects, "
        "animals, scenes; wrong for digits, letters, text or anything a mirror changes "
        f"(default: {'on' if flip else 'off'})")
    shifts = parser.add_mutually_exclusive_group()
    shifts.add_argument(
        "--shift", type=int, default=None, metavar="N",
        help="random shifts of the training images by up to N pixels (padding, then a "
        f"random crop); they suit photos and digits alike (default: {shift})")
    shifts.add_argument("--no-shift", dest="shift", action="store_const", const=0,
                        help="no random shifts")


def _add_verbose(parser) -> None:
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="also show a progress bar over the batches of each epoch "
                        "(on stderr)")


# ---------------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``sk-cnn`` (one sub-command per action).

    Returns
    -------
    parser : argparse.ArgumentParser
        Parses ``train``, ``predict``, ``evaluate``, ``export`` and ``demo`` command lines.
    """
    parser = argparse.ArgumentParser(
        prog="sk-cnn", description="Train and use convolutional neural networks on image "
        "folders (one sub-folder per class) with scikit-learn pipelines.")
    parser.add_argument("--version", action="version", version=f"sk_cnn {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    defaults = argparse.Namespace(**estimator_defaults(
        "max_epochs", "batch_size", "validation_fraction"))

    train = commands.add_parser(
        "train", help="train a CNN on DATA_DIR/<class>/<image> and save the pipeline",
        description="Train ImageLoader -> ImageNormalizer -> ImageAugmenter -> CNNClassifier on "
        "a class-per-folder tree (DATA_DIR/<class>/<image files>) and save it (pickle-free "
        "*.safetensors, or a joblib pickle *.joblib).")
    train.add_argument("data_dir", metavar="DATA_DIR", help="folder with one sub-folder per class")
    train.add_argument("--out", default="model.safetensors", metavar="FILE",
                       help="file to save the fitted pipeline to: *.safetensors (pickle-free, "
                       "default: model.safetensors) or *.joblib (a pickle)")
    train.add_argument("--epochs", type=int, default=defaults.max_epochs, metavar="N",
                       help=f"passes over the training data (default: {defaults.max_epochs})")
    train.add_argument("--image-size", type=int, nargs=2, metavar=("HEIGHT", "WIDTH"),
                       help="resize every image (default: keep the size, which must then be "
                       "the same for all images); new images are resized to the training size")
    train.add_argument("--grayscale", action="store_true", help="train on grayscale images")
    train.add_argument("--augment", action=argparse.BooleanOptionalAction, default=True,
                       help="random flips and shifts of the training batches, as --flip and "
                       "--shift say (default: on; --no-augment turns both off)")
    _add_augmentation_switches(train, flip=True, shift="an eighth of the smaller image side, "
                               "at least 1")
    train.add_argument("--backbone", default="none", metavar="NAME",
                       help="'none' (sk_cnn's CNN, default) or a torchvision classification "
                       "model to fine-tune, e.g. resnet18 or mobilenet_v3_small")
    train.add_argument("--weights", default=None, metavar="NAME_OR_FILE",
                       help="initial weights of the backbone: a torchvision weights name "
                       "(e.g. DEFAULT; downloaded into the torch hub cache on first use, "
                       "SK_CNN_OFFLINE=1 forbids it) or a state-dict file")
    train.add_argument("--validation-fraction", type=float,
                       default=defaults.validation_fraction, metavar="F",
                       help="fraction of images held out to report validation accuracy "
                       f"(default: {defaults.validation_fraction}; 0 trains on everything)")
    train.add_argument("--batch-size", type=int, default=defaults.batch_size, metavar="N",
                       help=f"images per training batch (default: {defaults.batch_size})")
    train.add_argument("--seed", type=int, default=0, metavar="N", help="random seed (default: 0)")
    train.add_argument("--checkpoint-dir", metavar="DIR",
                       help="back up the training state in DIR after every epoch; the same "
                       "command run again with the same DIR (same data and options) resumes "
                       "an interrupted run from its last completed epoch; the backup is "
                       "deleted when training completes")
    _add_verbose(train)

    predict = commands.add_parser(
        "predict", help="predict the class of image files", description="Predict the class "
        f"of image files with a saved pipeline; prints CSV or JSON. {PICKLE_NOTE}")
    predict.add_argument("model", metavar="MODEL", help="pipeline saved by 'sk-cnn train'")
    predict.add_argument("--allow-pickle", action="store_true",
                         help="read MODEL even if it is a joblib pickle, which runs any "
                         "code it holds: only for a file you trust")
    predict.add_argument("images", metavar="FILES_OR_DIR", nargs="+",
                         help="image files, or folders searched recursively for images")
    predict.add_argument("--proba", action="store_true", help="add the class probabilities")
    predict.add_argument("--format", choices=("csv", "json"), default="csv",
                         help="output format on stdout (default: csv)")

    evaluate = commands.add_parser(
        "evaluate", help="accuracy, classification report and confusion matrix on DATA_DIR",
        description="Score a saved pipeline on a class-per-folder tree: print the accuracy "
        f"and a classification report, save a confusion-matrix PNG. {PICKLE_NOTE}")
    evaluate.add_argument("model", metavar="MODEL", help="pipeline saved by 'sk-cnn train'")
    evaluate.add_argument("--allow-pickle", action="store_true",
                         help="read MODEL even if it is a joblib pickle, which runs any "
                         "code it holds: only for a file you trust")
    evaluate.add_argument("data_dir", metavar="DATA_DIR",
                          help="folder with one sub-folder per class")
    evaluate.add_argument("--confusion-matrix", default="confusion_matrix.png", metavar="PNG",
                          help="where to save the confusion matrix (default: "
                          "confusion_matrix.png; needs matplotlib: pip install 'sk_cnn[plot]')")
    evaluate.add_argument("--no-plot", action="store_true",
                          help="do not save the confusion matrix")

    export = commands.add_parser(
        "export", help="export a saved pipeline to ONNX (*.onnx) or torch.export (*.pt2)",
        description="Write the saved pipeline's normalization and network as one ONNX model "
        "or torch.export program that takes decoded uint8 images and returns class "
        f"probabilities (class labels in its metadata). ONNX needs: pip install "
        f"'sk_cnn[onnx]'. {PICKLE_NOTE}")
    export.add_argument("model", metavar="MODEL", help="pipeline saved by 'sk-cnn train'")
    export.add_argument("--allow-pickle", action="store_true",
                         help="read MODEL even if it is a joblib pickle, which runs any "
                         "code it holds: only for a file you trust")
    export.add_argument("out", metavar="OUT", help="destination: *.onnx or *.pt2")

    demo = commands.add_parser(
        "demo", help="train on sklearn's digits (offline, seconds)",
        description="Train the digits pipeline (ImageNormalizer -> ImageAugmenter -> "
        "CNNClassifier) on sklearn's 8x8 digits and print the test accuracy. Offline.")
    demo.add_argument("--epochs", type=int, default=defaults.max_epochs, metavar="N",
                      help=f"passes over the training data (default: {defaults.max_epochs})")
    demo.add_argument("--seed", type=int, default=0, metavar="N", help="random seed (default: 0)")
    demo.add_argument("--out", metavar="FILE", help="also save the fitted pipeline to this file "
                      "(*.safetensors or *.joblib)")
    _add_augmentation_switches(demo, flip=False, shift="1")
    _add_verbose(demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the ``sk-cnn`` command line.

    Where stdout or stderr is not a terminal, or the environment sets ``NO_COLOR``, nothing
    written there holds ANSI escape codes (colours).

    Parameters
    ----------
    argv : list of str or None, default=None
        The arguments, without the program name; None reads ``sys.argv``.

    Returns
    -------
    status : int
        0 on success, 1 on an error (reported on stderr), 2 on a usage error (from argparse),
        130 when interrupted (Ctrl-C), 141 when stdout is a pipe that its reader closed
        (``sk-cnn ... | head -1``; nothing is reported).
    """
    tolerant_streams()
    try:
        with plain_streams():
            try:
                return _run(argv)
            finally:
                # A closed pipe shows here, where it can be handled, not at the exit's flush.
                sys.stdout.flush()
    except BrokenPipeError:
        silence_broken_pipe()
        return BROKEN_PIPE_STATUS


def _run(argv) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    for name in ("epochs", "batch_size"):
        if getattr(args, name, 1) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1.")
    if (getattr(args, "shift", None) or 0) < 0:
        parser.error("--shift must be at least 0 (or --no-shift).")
    fraction = getattr(args, "validation_fraction", 0.0)
    if not 0 <= fraction < 1:
        parser.error("--validation-fraction must be in [0, 1).")
    try:
        # The commands import torch and scikit-learn: only now, that a command runs.
        from ._commands import run_demo, run_evaluate, run_export, run_predict, run_train

        commands = {"train": run_train, "predict": run_predict, "evaluate": run_evaluate,
                    "export": run_export, "demo": run_demo}
        return commands[args.command](args)
    except CLIError as exc:
        log(f"sk-cnn {args.command}: error: {exc}")
        return 1
    except KeyboardInterrupt:
        log("interrupted")
        return 130
