"""What each ``sk-cnn`` sub-command does; :mod:`._main` parses the command line.

A user error raises :class:`CLIError`, which ``main`` reports as one line on stderr.
"""

from __future__ import annotations

import csv
import json
import os
import sys
import time
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
from sklearn.pipeline import Pipeline

from ..datasets import IMAGE_EXTENSIONS, find_images, load_digits_images, load_image_folder
from ..estimators import CNNClassifier
from ..exceptions import TrainingInterruptedWarning
from ..io import export_onnx, export_program
from ..networks._backbones import check_backbone_name
from ..preprocessing import ImageAugmenter, ImageLoader, ImageNormalizer
from ..preprocessing._loader import check_size
from ..training._backup import check_backup_directory
from ._errors import CLIError
from ._files import check_output, saving
from ._models import check_model_suffix, load_model, save_model
from ._output import log, printable


def _image_folder(root):
    try:
        return load_image_folder(root)
    except (FileNotFoundError, ValueError) as exc:
        raise CLIError(str(exc)) from exc


def _class_summary(labels):
    counts = Counter(labels.tolist())
    return ", ".join(f"{name}: {count}" for name, count in sorted(counts.items()))


# ---------------------------------------------------------------------------------- train
def _decode(loader, paths):
    print(f"Decoding {len(paths)} images...", flush=True)
    start = time.perf_counter()
    try:
        X = loader.fit_transform(paths)
    except ValueError as exc:
        if loader.size is None and "different sizes" in str(exc):
            raise CLIError(f"{exc} With sk-cnn: pass --image-size HEIGHT WIDTH.") from exc
        raise CLIError(str(exc)) from exc
    except OSError as exc:
        raise CLIError(str(exc)) from exc
    seconds = time.perf_counter() - start
    print(f"Decoded {len(X)} images of {X.shape[1]}x{X.shape[2]} pixels in {seconds:.1f} s "
          f"({len(X) / max(seconds, 1e-9):.0f} images/s)", flush=True)
    return X


def _augmenter(args, default_shift):
    """The ImageAugmenter step that ``--augment``, ``--flip`` and ``--shift`` ask for, or None
    when they ask for no augmentation."""
    shift = default_shift if args.shift is None else args.shift
    if not getattr(args, "augment", True) or not (args.flip or shift):
        return None
    return ("aug", ImageAugmenter(horizontal_flip=args.flip, crop_padding=shift))


def _epochs_completed(cnn) -> int:
    # An epoch cut short has a history row without its training loss, recorded at its end.
    return sum("train_loss" in row for row in cnn.history)


def _fit_completed(pipeline, X, y) -> bool:
    """Fit; False when a KeyboardInterrupt, which skorch swallows, cut the training short (the
    estimator keeps the network trained so far; :func:`_save_interrupted` says so)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", TrainingInterruptedWarning)
        pipeline.fit(X, y)
    interrupted = False
    for warning in caught:
        if isinstance(warning.message, TrainingInterruptedWarning):
            interrupted = True  # said by _save_interrupted, in the command's own words
        else:
            warnings.warn_explicit(warning.message, warning.category, warning.filename,
                                   warning.lineno, source=warning.source)
    return not interrupted


def _save_interrupted(model, command, out, checkpoint_dir=None) -> int:
    """Save the pipeline ``model`` whose training was interrupted to ``out`` (when given and
    an epoch completed), say so on stderr, and return the exit status of an interrupt."""
    cnn = model.steps[-1][1]
    # Counted over the whole history: a run resumed from --checkpoint-dir holds the epochs of
    # the run it resumed too.
    completed = _epochs_completed(cnn)
    message = f"sk-cnn {command}: interrupted after {completed} of {cnn.max_epochs} epochs"
    if not completed or out is None:
        log(f"{message}; nothing saved.")
        return 130
    with saving(out, "the model") as partial:
        save_model(model, partial)
    log(printable(f"{message}; saved the model trained so far to '{out}'."))
    if checkpoint_dir is not None:
        log(printable(f"Run the same command again to resume from epoch {completed + 1} "
                      f"(backup in '{checkpoint_dir}')."))
    return 130


def run_train(args) -> int:
    backbone = None if args.backbone.lower() == "none" else args.backbone
    if backbone is not None:
        try:
            check_backbone_name(backbone)
        except ValueError as exc:
            raise CLIError(f"--backbone {args.backbone!r}: {exc} Or 'none' for sk_cnn's "
                           f"CNN.") from exc
    if args.weights is not None and backbone is None:
        raise CLIError("--weights needs --backbone NAME.")
    out = check_output(args.out, "the model")
    check_model_suffix(out)
    if args.checkpoint_dir is not None:
        try:  # before decoding and training: the backup is first written after an epoch
            check_backup_directory(args.checkpoint_dir)
        except ValueError as exc:
            raise CLIError(str(exc).replace("checkpoint_dir=", "--checkpoint-dir ")) from exc
    paths, labels = _image_folder(args.data_dir)
    if len(set(labels.tolist())) < 2:
        raise CLIError(f"'{args.data_dir}' has one class folder; training needs at least two.")
    print(printable(f"Found {len(paths)} images of {len(set(labels.tolist()))} classes in "
                    f"'{args.data_dir}' ({_class_summary(labels)})"), flush=True)
    loader = ImageLoader(size=None if args.image_size is None else tuple(args.image_size),
                         mode="L" if args.grayscale else "RGB")
    X = _decode(loader, paths)
    # The saved model resizes new images to the training size.
    loader.set_params(size=tuple(int(s) for s in X.shape[1:3]))
    # ImageNet weights expect ImageNet's statistics.
    steps = [("norm", ImageNormalizer(mean="imagenet" if args.weights and X.ndim == 4 else None))]
    augmenter = _augmenter(args, default_shift=max(1, round(min(X.shape[1:3]) / 8)))
    if augmenter is not None:
        steps.append(augmenter)
    cnn = CNNClassifier(backbone=backbone, weights=args.weights,
                        max_epochs=args.epochs, batch_size=args.batch_size,
                        validation_fraction=args.validation_fraction, random_state=args.seed,
                        checkpoint_dir=args.checkpoint_dir, verbose=2 if args.verbose else 1)
    steps.append(("cnn", cnn))
    model = Pipeline([("load", loader)] + steps)
    start = time.perf_counter()
    try:
        if not _fit_completed(Pipeline(steps), X, labels):
            return _save_interrupted(model, "train", out, args.checkpoint_dir)
    except (ValueError, FileNotFoundError) as exc:
        raise CLIError(str(exc)) from exc
    print(f"Trained {len(cnn.history)} epoch(s) in {time.perf_counter() - start:.1f} s",
          flush=True)
    if args.validation_fraction and "valid_acc" in cnn.history[-1]:
        n_valid = int(np.ceil(args.validation_fraction * len(X)))
        print(f"validation accuracy: {cnn.history[-1, 'valid_acc']:.4f} "
              f"({n_valid} held-out images)")
    else:
        print("validation accuracy: not measured (--validation-fraction 0)")
    with saving(out, "the model") as partial:
        save_model(model, partial)
    print(printable(f"saved the pipeline to '{out}' (sk-cnn predict {out} IMAGES)"))
    return 0


# ---------------------------------------------------------------------------------- predict
def _collect_images(inputs):
    paths = []
    for item in inputs:
        if os.path.isdir(item):
            found = find_images(item)
            if not found:
                raise CLIError(f"folder '{item}' holds no image file "
                               f"({' '.join(IMAGE_EXTENSIONS)}).")
            paths.extend(found)
        elif os.path.isfile(item):
            paths.append(item)
        else:
            raise CLIError(f"no such file or folder: '{item}'.")
    return paths


def _python(values):
    return np.asarray(values).tolist()


def run_predict(args) -> int:
    model = load_model(args.model, args.allow_pickle)
    paths = _collect_images(args.images)
    classes = _python(model.classes_)
    try:
        proba = model.predict_proba(paths)
    except (ValueError, OSError) as exc:
        raise CLIError(str(exc)) from exc
    # File and class names as they can be printed (a name that is not UTF-8 shows \xNN).
    paths = [printable(path) for path in paths]
    classes = [printable(c) if isinstance(c, str) else c for c in classes]
    labels = [classes[i] for i in proba.argmax(axis=1)]
    if args.format == "json":
        rows = []
        for path, label, p in zip(paths, labels, proba.tolist()):
            row = {"path": path, "label": label}
            if args.proba:
                row["probabilities"] = {str(c): round(v, 6) for c, v in zip(classes, p)}
            rows.append(row)
        json.dump(rows, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(["path", "label"] + ([f"proba_{c}" for c in classes] if args.proba
                                             else []))
        for path, label, p in zip(paths, labels, proba.tolist()):
            writer.writerow([path, label] + ([f"{v:.6f}" for v in p] if args.proba else []))
    log(f"predicted {len(paths)} image(s)")
    return 0


# ---------------------------------------------------------------------------------- export
def run_export(args) -> int:
    out = check_output(args.out, "the exported model")
    exporters = {".onnx": export_onnx, ".pt2": export_program}
    if out.suffix not in exporters:
        raise CLIError(f"cannot tell the format of '{out}': name it *.onnx (ONNX) or *.pt2 "
                       f"(torch.export program).")
    model = load_model(args.model, args.allow_pickle)
    loader = model.steps[0][1]  # an ImageLoader (load_model checks), whatever its step's name
    # ImageLoader(size=None) keeps the files' size, which must be the training size.
    size = check_size(loader.size) or model.steps[-1][1].input_shape_[:2]
    height, width = size
    # Decoding files stays outside the exported model: it takes the decoded images.
    images = Pipeline(model.steps[1:])
    try:
        with saving(out, "the exported model") as partial:
            exporters[out.suffix](images, partial)
    except (ImportError, ValueError, TypeError, RuntimeError) as exc:
        raise CLIError(str(exc)) from exc
    layout = f"{height}, {width}, 3" if loader.mode == "RGB" else f"{height}, {width}"
    print(printable(f"exported to '{out}': it takes uint8 images of shape (N, {layout}) (decode "
                    f"and resize files as the model's ImageLoader does) and returns the "
                    f"probabilities of the classes {_python(model.classes_)}"))
    return 0


# ---------------------------------------------------------------------------------- evaluate
def _pyplot():
    try:
        import matplotlib
    except ImportError as exc:
        raise CLIError(
            "evaluate saves the confusion matrix as a PNG with matplotlib, which is not "
            "installed. Install it with: pip install 'sk_cnn[plot]' (or pass --no-plot).") from exc
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _check_figure_path(path):
    """Check, before predicting, that matplotlib can save the confusion matrix to ``path``."""
    from matplotlib.figure import Figure

    path = check_output(path, "the confusion matrix")
    formats = sorted(Figure().canvas.get_supported_filetypes())
    if path.suffix.lower().lstrip(".") not in formats:
        raise CLIError(f"cannot tell the image format of '{path}': end the name with one of "
                       f"{', '.join('.' + f for f in formats)} (e.g. confusion_matrix.png).")


def run_evaluate(args) -> int:
    from sklearn.metrics import ConfusionMatrixDisplay, accuracy_score, classification_report

    plt = None if args.no_plot else _pyplot()
    if plt is not None:
        _check_figure_path(args.confusion_matrix)
    model = load_model(args.model, args.allow_pickle)
    paths, y_true = _image_folder(args.data_dir)
    try:
        y_pred = model.predict(paths)
    except (ValueError, OSError) as exc:
        raise CLIError(str(exc)) from exc
    # Folder names are str; compare as str so that models trained on int labels work too.
    y_pred = np.asarray(y_pred).astype(str)
    known = set(np.asarray(model.classes_).astype(str).tolist())
    unknown = sorted(set(y_true.tolist()) - known)
    if unknown:
        log(f"warning: class folder(s) {unknown} are not classes of the model; their images "
             f"count as errors.")
    print(f"accuracy: {accuracy_score(y_true, y_pred):.4f} on {len(paths)} images")
    print(printable(classification_report(y_true, y_pred, zero_division=0)))
    if plt is not None:
        labels = sorted(set(y_true.tolist()) | set(y_pred.tolist()))
        size = max(4.0, 0.6 * len(labels) + 2)
        fig, ax = plt.subplots(figsize=(size, size))
        ConfusionMatrixDisplay.from_predictions(y_true, y_pred, labels=labels, ax=ax,
                                                xticks_rotation="vertical", colorbar=False)
        ax.set_title(f"{Path(args.data_dir).name or args.data_dir}: accuracy "
                     f"{accuracy_score(y_true, y_pred):.3f}")
        try:
            with saving(Path(args.confusion_matrix), "the confusion matrix") as partial:
                fig.savefig(partial, dpi=100, bbox_inches="tight")
        finally:
            plt.close(fig)
        print(printable(f"confusion matrix saved to '{args.confusion_matrix}'"))
    return 0


# ---------------------------------------------------------------------------------- demo
def run_demo(args) -> int:
    from sklearn.model_selection import train_test_split

    out = check_output(args.out, "the model") if args.out else None
    if out is not None:
        check_model_suffix(out)
    X, y = load_digits_images()
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=0)
    print(f"sklearn digits: {len(X_train)} training and {len(X_test)} test images of 8x8 pixels")
    augmenter = _augmenter(args, default_shift=1)
    pipe = Pipeline([
        ("norm", ImageNormalizer()),
        *([augmenter] if augmenter is not None else []),
        ("cnn", CNNClassifier(max_epochs=args.epochs, random_state=args.seed,
                              verbose=2 if args.verbose else 1)),
    ])
    start = time.perf_counter()
    if not _fit_completed(pipe, X_train, y_train):
        return _save_interrupted(pipe, "demo", out)
    print(f"Trained in {time.perf_counter() - start:.1f} s")
    print(f"test accuracy: {pipe.score(X_test, y_test):.4f}")
    if out is not None:
        with saving(out, "the model") as partial:
            save_model(pipe, partial)
        print(printable(f"saved the pipeline (input: uint8 8x8 arrays) to '{out}'"))
    return 0
