"""The ``sk-cnn`` command line: its parser, and ``main``, which runs a sub-command."""

from __future__ import annotations

import argparse

from .._version import __version__
from ..estimators import CNNClassifier
from ._commands import (
    run_demo,
    run_evaluate,
    run_export,
    run_predict,
    run_train,
)
from ._errors import CLIError
from ._models import PICKLE_NOTE
from ._output import log, tolerant_streams


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
    defaults = CNNClassifier()

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
                       help="random flips and shifts of the training batches (default: on)")
    train.add_argument("--backbone", default="none", metavar="NAME",
                       help="'none' (sk_cnn's CNN, default) or a torchvision classification "
                       "model to fine-tune, e.g. resnet18 or mobilenet_v3_small")
    train.add_argument("--weights", default=None, metavar="NAME_OR_FILE",
                       help="initial weights of the backbone: a torchvision weights name found "
                       "in the local torch hub cache (e.g. DEFAULT) or a state-dict file; never "
                       "downloaded")
    train.add_argument("--validation-fraction", type=float,
                       default=defaults.validation_fraction, metavar="F",
                       help="fraction of images held out to report validation accuracy "
                       f"(default: {defaults.validation_fraction}; 0 trains on everything)")
    train.add_argument("--batch-size", type=int, default=defaults.batch_size, metavar="N",
                       help=f"images per training batch (default: {defaults.batch_size})")
    train.add_argument("--seed", type=int, default=0, metavar="N", help="random seed (default: 0)")
    train.set_defaults(run=run_train)

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
    predict.set_defaults(run=run_predict)

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
    evaluate.set_defaults(run=run_evaluate)

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
    export.set_defaults(run=run_export)

    demo = commands.add_parser(
        "demo", help="train on sklearn's digits (offline, seconds)",
        description="Train the digits pipeline (ImageNormalizer -> ImageAugmenter -> "
        "CNNClassifier) on sklearn's 8x8 digits and print the test accuracy. Offline.")
    demo.add_argument("--epochs", type=int, default=defaults.max_epochs, metavar="N",
                      help=f"passes over the training data (default: {defaults.max_epochs})")
    demo.add_argument("--seed", type=int, default=0, metavar="N", help="random seed (default: 0)")
    demo.add_argument("--out", metavar="FILE", help="also save the fitted pipeline to this file "
                      "(*.safetensors or *.joblib)")
    demo.set_defaults(run=run_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the ``sk-cnn`` command line.

    Parameters
    ----------
    argv : list of str or None, default=None
        The arguments, without the program name; None reads ``sys.argv``.

    Returns
    -------
    status : int
        0 on success, 1 on an error (reported on stderr), 2 on a usage error (from argparse).
    """
    tolerant_streams()
    parser = build_parser()
    args = parser.parse_args(argv)
    for name in ("epochs", "batch_size"):
        if getattr(args, name, 1) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1.")
    fraction = getattr(args, "validation_fraction", 0.0)
    if not 0 <= fraction < 1:
        parser.error("--validation-fraction must be in [0, 1).")
    try:
        return args.run(args)
    except CLIError as exc:
        log(f"sk-cnn {args.command}: error: {exc}")
        return 1
    except KeyboardInterrupt:
        log("interrupted")
        return 130

