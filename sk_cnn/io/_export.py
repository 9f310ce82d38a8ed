"""Export a fitted pipeline to ONNX or to a ``torch.export`` program, preprocessing included.

Both exporters write the same :class:`torch.nn.Module`, built by
:func:`~sk_cnn.io._serving.serving_module`: raw samples in, in the shape and dtype the pipeline was
fitted on, with any batch size; a classifier's ``predict_proba`` probabilities out, or a
regressor's ``predict`` values (target scaling folded in).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import warnings
from pathlib import Path

import torch
from numpy.typing import DTypeLike
from sklearn.pipeline import Pipeline

from ..estimators import CNNClassifier, CNNRegressor
from ._save_load import writes_files
from ._serving import serving_module

#: Name of the exported model's input and output (ONNX) and of the ``.pt2`` metadata file.
INPUT_NAME = "X"
OUTPUT_NAME = "probabilities"
REGRESSOR_OUTPUT_NAME = "predictions"
FEATURES_OUTPUT_NAME = "features"
METADATA_FILE = "metadata.json"


def _dynamic_batch():
    return ({0: torch.export.Dim("batch")},)


def _export_error(err, exporter):
    """A short RuntimeError from torch's error: the root cause's first lines, no traceback."""
    while err.__cause__ is not None:  # torch.onnx wraps torch.export's error
        err = err.__cause__
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(err)).strip()  # terminal colour codes
    return RuntimeError(
        f"{exporter} could not export the network ({type(err).__name__}: "
        f"{' '.join(text.splitlines()[:3])}). Custom modules must be traceable by torch.export, "
        f"with no data-dependent control flow and no fixed batch size.")


def export_program(
    model: Pipeline | CNNClassifier | CNNRegressor, path: str | os.PathLike, *,
    input_dtype: DTypeLike | None = None,
) -> Path | None:
    """Save a fitted pipeline (or estimator) as a ``torch.export`` program (``.pt2``).

    The program takes raw samples in the shape and dtype the pipeline was fitted on (e.g. uint8
    ``(N, H, W, C)`` images, or float64 rows for the digits pipeline), any batch size, and
    returns ``predict_proba``'s probabilities as float32 (a regressor: ``predict``'s values,
    the target scaling folded in, as float32). ImageReshaper and ImageNormalizer are
    part of it; ImageAugmenter is left out (identity at prediction time). Loading it needs
    torch only, not sk_cnn: ``torch.export.load(path).module()(torch.from_numpy(X))``.
    The program computes in float32 even for a classifier with ``mixed_precision``: it
    returns what ``predict_proba`` returns with ``mixed_precision=None``, which differs from
    bfloat16 predictions by bfloat16 rounding (tests check agreement within 1e-2).

    Parameters
    ----------
    model : Pipeline, CNNClassifier or CNNRegressor
        A fitted CNNClassifier or CNNRegressor, or a fitted Pipeline ending with one whose
        other steps are ImageReshaper, ImageNormalizer, ImageAugmenter or "passthrough". A
        fitted :class:`~sk_cnn.CNNFeatureExtractor` (or a Pipeline ending with one) is
        exported too: ``transform``'s features out (ONNX output ``"features"``), their
        length under ``"n_features"`` in the metadata.
    path : str or path-like
        Where to write the program, conventionally ending in ``.pt2``.
    input_dtype : numpy dtype or None, default=None
        dtype of the raw samples; None takes the dtype seen in fit.

    Returns
    -------
    path : pathlib.Path or None
        The file written (None in a process of rank other than 0 of a ``strategy="ddp"``
        fit, which writes nothing). It also holds ``metadata.json``: ``classes`` (the labels of the
        probability columns; a regressor's ``n_outputs`` instead), ``input_shape``,
        ``input_dtype`` and ``sk_cnn_version``; read it
        with ``torch.export.load(path, extra_files={"metadata.json": ""})``.

    Raises
    ------
    TypeError
        When model is neither a Pipeline nor a CNNClassifier or CNNRegressor.
    ValueError
        When a step cannot be exported; the message names it.
    RuntimeError
        When torch.export cannot trace a custom network.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np, torch
    >>> from sk_cnn import CNNClassifier, export_program
    >>> X = np.random.default_rng(0).integers(0, 256, (20, 8, 8, 3), dtype=np.uint8)
    >>> clf = CNNClassifier(conv_filters=(4,), max_epochs=1, verbose=0).fit(X, [0, 1] * 10)
    >>> path = export_program(clf, os.path.join(tempfile.mkdtemp(), "model.pt2"))
    >>> torch.export.load(path).module()(torch.from_numpy(X[:3])).shape
    torch.Size([3, 2])
    """
    if not writes_files(model):
        return None
    module, example, metadata = serving_module(model, input_dtype=input_dtype)
    try:
        program = torch.export.export(module, (example,), dynamic_shapes=_dynamic_batch())
    except Exception as err:  # torch raises many types
        raise _export_error(err, "torch.export") from None
    path = Path(path)
    with warnings.catch_warnings():
        # torch.export.save calls channels_last weights "not complete" (not contiguous) and
        # warns; it writes each one's whole storage and its strides all the same, so they load
        # intact (the warning's caveat is about weights on other devices than the CPU).
        warnings.filterwarnings("ignore", message="No complete tensor found in the group")
        torch.export.save(program, path, extra_files={METADATA_FILE: json.dumps(metadata)})
    return path


def _import_onnx():
    try:
        import onnx
        import onnxscript  # noqa: F401 - torch.onnx's exporter needs it
    except ImportError as err:
        raise ImportError(
            f"export_onnx needs the optional dependencies onnx and onnxscript ({err.name} is "
            f"missing): pip install 'sk_cnn[onnx]' (which also installs onnxruntime to run "
            f"the model).") from None
    return onnx


def export_onnx(
    model: Pipeline | CNNClassifier | CNNRegressor, path: str | os.PathLike, *,
    input_dtype: DTypeLike | None = None,
) -> Path | None:
    """Save a fitted pipeline (or estimator) as an ONNX model, preprocessing included.

    The model's input ``"X"`` takes raw samples in the shape and dtype the pipeline was fitted
    on (e.g. uint8 ``(N, H, W, C)`` images, or float64 rows for the digits pipeline), with a
    dynamic batch size; its output ``"probabilities"`` is ``predict_proba``'s, as float32 (a
    regressor's output ``"predictions"`` is ``predict``'s, the target scaling folded in).
    ImageReshaper and ImageNormalizer are part of the graph; ImageAugmenter is left out
    (identity at prediction time). The class labels of the probability columns are in the
    model's ``metadata_props`` under ``"classes"``, as a JSON list (also ``"input_shape"``,
    ``"input_dtype"``, ``"sk_cnn_version"``; for multi-label targets ``"multilabel"`` and
    ``"threshold"``, each column being its label's probability). Needs the ``onnx`` extra.
    The graph computes in float32 even for a classifier with ``mixed_precision``, as
    :func:`export_program` does.

    Parameters
    ----------
    model : Pipeline, CNNClassifier or CNNRegressor
        A fitted CNNClassifier or CNNRegressor, or a fitted Pipeline ending with one whose
        other steps are ImageReshaper, ImageNormalizer, ImageAugmenter or "passthrough". A
        fitted :class:`~sk_cnn.CNNFeatureExtractor` (or a Pipeline ending with one) is
        exported too: ``transform``'s features out (ONNX output ``"features"``), their
        length under ``"n_features"`` in the metadata.
    path : str or path-like
        Where to write the model, conventionally ending in ``.onnx``.
    input_dtype : numpy dtype or None, default=None
        dtype of the raw samples; None takes the dtype seen in fit.

    Returns
    -------
    path : pathlib.Path or None
        The file written; None in a process of rank other than 0 of a ``strategy="ddp"``
        fit, which writes nothing.

    Raises
    ------
    ImportError
        When onnx or onnxscript is missing (``pip install 'sk_cnn[onnx]'``).
    TypeError
        When model is neither a Pipeline nor a CNNClassifier or CNNRegressor.
    ValueError
        When a step cannot be exported; the message names it.
    RuntimeError
        When torch's exporter cannot trace a custom network.

    Examples
    --------
    >>> import json, os, tempfile
    >>> import numpy as np, onnxruntime
    >>> from sk_cnn import CNNClassifier, export_onnx
    >>> X = np.random.default_rng(0).integers(0, 256, (20, 8, 8, 3), dtype=np.uint8)
    >>> clf = CNNClassifier(conv_filters=(4,), max_epochs=1, verbose=0).fit(X, ["a", "b"] * 10)
    >>> path = export_onnx(clf, os.path.join(tempfile.mkdtemp(), "model.onnx"))
    >>> session = onnxruntime.InferenceSession(path)
    >>> session.run(None, {"X": X[:3]})[0].shape
    (3, 2)
    >>> json.loads(session.get_modelmeta().custom_metadata_map["classes"])
    ['a', 'b']
    """
    if not writes_files(model):
        return None
    onnx = _import_onnx()
    module, example, metadata = serving_module(model, input_dtype=input_dtype)
    try:
        # verbose=False still prints the exporter's progress lines; keep them off stdout.
        with contextlib.redirect_stdout(io.StringIO()):
            program = torch.onnx.export(
                module, (example,), None, input_names=[INPUT_NAME],
                output_names=[REGRESSOR_OUTPUT_NAME if "n_outputs" in metadata
                              else FEATURES_OUTPUT_NAME if "n_features" in metadata
                              else OUTPUT_NAME],
                dynamic_shapes=_dynamic_batch(), dynamo=True,
                verbose=False)
    except Exception as err:  # torch raises many types
        raise _export_error(err, "torch.onnx.export") from None
    proto = program.model_proto
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value if isinstance(value, str) else json.dumps(value)
    onnx.checker.check_model(proto)
    path = Path(path)
    onnx.save_model(proto, path)
    return path
