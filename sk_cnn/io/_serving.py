"""The module that serves a fitted pipeline: preprocessing, network and output in one.

:func:`serving_module` turns a fitted pipeline into one :class:`torch.nn.Module`: the
pipeline's ImageReshaper and ImageNormalizer steps as tensor operations, the estimator's own
input conversion (channels-first view, uint8 scaled to [0, 1]), the trained network in
evaluation mode and the output: a classifier's prediction nonlinearity (skorch's: softmax for
the default cross-entropy), a regressor's target scaling undone (``predict``'s values), or a
CNNFeatureExtractor's features as they are (``transform``'s).
ImageAugmenter is left out: it is the identity at prediction time. The module takes raw
samples, in the shape and dtype the pipeline was fitted on, with any batch size.
:mod:`sk_cnn.io._export` writes it as ONNX or as a ``torch.export`` program.
"""

from __future__ import annotations

import copy
import json

import numpy as np
import torch
from numpy.typing import DTypeLike
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted
from torch import nn

from .._skorch import predict_nonlinearity
from .._version import __version__
from ..estimators import CNNClassifier, CNNRegressor
from ..networks import CNNFeatureExtractor
from ..preprocessing import ImageAugmenter, ImageNormalizer, ImageReshaper
from ..training._batching import to_network_input

_SUPPORTED = "ImageReshaper, ImageNormalizer, ImageAugmenter and 'passthrough'"


class _Reshape(nn.Module):
    """ImageReshaper's transform: flat rows to images, channels-last to channels-first."""

    def __init__(self, shape, transpose):
        super().__init__()
        self.shape = None if shape is None else tuple(int(s) for s in shape)
        self.transpose = bool(transpose)

    def forward(self, x):
        if self.shape is not None:
            x = x.reshape((x.shape[0],) + self.shape)
        if self.transpose:
            x = x.movedim(-1, 1)
        return x


class _Normalize(nn.Module):
    """ImageNormalizer's transform, with the same float32 operations in the same order."""

    def __init__(self, mean, std, ndim, layout, scale, dtype="float32"):
        super().__init__()
        # Per-channel statistics shaped to broadcast against the layout the step receives.
        shape = (-1,) + (1,) * (ndim - 2) if layout == "first" else (-1,)
        self.register_buffer("mean", torch.as_tensor(np.asarray(mean, np.float32)).reshape(shape))
        self.register_buffer("std", torch.as_tensor(np.asarray(std, np.float32)).reshape(shape))
        self.scale = scale
        # ImageNormalizer(dtype="float16") stores its float32 result in float16: round the same.
        self.round_to_half = dtype == "float16"

    def forward(self, x):
        x = x.to(torch.float32)
        if self.scale:
            x = x * float(np.float32(1 / 255))
        x = (x - self.mean) / self.std
        if self.round_to_half:
            x = x.to(torch.float16).to(torch.float32)
        return x


class _NetworkInput(nn.Module):
    """CNNClassifier's ``canonical_view`` and ``to_network_input`` on a batch."""

    def __init__(self, ndim, layout):
        super().__init__()
        self.ndim = ndim
        self.layout = layout

    def forward(self, x):
        if self.ndim == 2 or (self.ndim == 3 and self.layout is None):
            x = x.unsqueeze(1)
        elif self.layout == "last":
            x = x.movedim(-1, 1)
        return to_network_input(x, "cpu")


class ServingModule(nn.Module):
    """Raw samples in, predictions out: preprocessing, network, output.

    Parameters
    ----------
    preprocess : torch.nn.Sequential
        The pipeline's transformers and the estimator's input conversion.
    network : torch.nn.Module
        The trained network, in evaluation mode.
    nonlinearity : callable
        What turns the network's output into the prediction: a classifier's
        ``predict_nonlinearity`` (skorch's), or a regressor's target scaling undone.
    flip_tta : bool, default=False
        Average the outputs of each image and its mirror image, as ``tta="flip"`` does.
    """

    def __init__(self, preprocess: nn.Sequential, network: nn.Module, nonlinearity,
                 flip_tta: bool = False):
        super().__init__()
        self.preprocess = preprocess
        self.network = network
        self.nonlinearity = nonlinearity
        self.flip_tta = flip_tta

    def _logits(self, x):
        out = self.network(x)
        return out[0] if isinstance(out, tuple) else out  # predict_proba keeps the first output

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the class probabilities (or a regressor's predictions) of the raw batch."""
        x = self.preprocess(x)
        out = self._logits(x)
        if self.flip_tta:
            out = (out + self._logits(x.flip(-1))) / 2
        return self.nonlinearity(out)


class _Unscale(nn.Module):
    """A regressor's output back on the targets' scale, as ``predict`` returns it.

    ``(N,)`` for one target, ``(N, n_outputs)`` for several.
    """

    def __init__(self, mean, scale):
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("scale", torch.as_tensor(scale, dtype=torch.float32))

    def forward(self, out):
        y = out.float() * self.scale + self.mean
        return y[:, 0] if self.mean.numel() == 1 else y


def _flatten(steps, prefix=""):
    """(name, step) pairs of a pipeline's steps, nested pipelines flattened."""
    for name, step in steps:
        if isinstance(step, Pipeline):
            yield from _flatten(step.steps, f"{prefix}{name}__")
        else:
            yield f"{prefix}{name}", step


_EXPORTED = (CNNClassifier, CNNRegressor, CNNFeatureExtractor)


def _steps(model):
    """The (name, step) pairs that come before the estimator, and the estimator."""
    if isinstance(model, _EXPORTED):
        return [], model
    if not isinstance(model, Pipeline):
        raise TypeError(
            f"Expected a fitted sk_cnn.CNNClassifier, CNNRegressor or CNNFeatureExtractor, or a "
            f"scikit-learn Pipeline ending with one; got {type(model).__name__}.")
    steps = list(_flatten(model.steps))
    name, clf = steps[-1]
    if not isinstance(clf, _EXPORTED):
        raise ValueError(
            f"The last step of the pipeline, {name!r} ({type(clf).__name__}), cannot be exported: "
            f"export_onnx and export_program need an sk_cnn.CNNClassifier, CNNRegressor or "
            f"CNNFeatureExtractor there.")
    return steps[:-1], clf


def serving_module(
    model: Pipeline | CNNClassifier | CNNRegressor, *, input_dtype: DTypeLike | None = None,
) -> tuple[ServingModule, torch.Tensor, dict]:
    """Build the module that both exporters export, with an example input and metadata.

    Parameters
    ----------
    model : Pipeline, CNNClassifier, CNNRegressor or CNNFeatureExtractor
        A fitted CNNClassifier, CNNRegressor or CNNFeatureExtractor, or a fitted Pipeline of
        ImageReshaper, ImageNormalizer, ImageAugmenter (left out: identity at prediction
        time) or "passthrough" steps ending with one.
    input_dtype : numpy dtype or None, default=None
        dtype of the raw samples; None takes the one the first step saw in fit
        (``input_dtype_``).

    Returns
    -------
    module : ServingModule
        Raw samples ``(N, *input_shape)`` in, on the CPU; out, a classifier's probabilities
        ``(N, n_classes)``, a regressor's predictions (``(N,)``, or ``(N, n_outputs)``) or a
        feature extractor's features ``(N, n_features)``.
    example : torch.Tensor
        Two zero samples of the input's shape and dtype, to trace the module with.
    metadata : dict
        ``classes`` (a list of the labels; a regressor's ``n_outputs``, a feature
        extractor's ``n_features`` instead), ``input_shape``, ``input_dtype`` and
        ``sk_cnn_version``.

    Raises
    ------
    TypeError
        When model is neither a Pipeline nor a CNNClassifier or CNNRegressor.
    ValueError
        When a step cannot be exported (the message names it) or the input dtype is unknown.
    sklearn.exceptions.NotFittedError
        When a step is not fitted.
    """
    steps, clf = _steps(model)
    steps = [(name, step) for name, step in steps if step is not None and step != "passthrough"]
    for name, step in steps:
        if not isinstance(step, (ImageReshaper, ImageNormalizer, ImageAugmenter)):
            raise ValueError(
                f"Step {name!r} ({type(step).__name__}) cannot be exported: only {_SUPPORTED} "
                f"steps can come before the estimator. Apply it before the pipeline, or "
                f"leave it out.")
    for _, step in steps:
        check_is_fitted(step)
    check_is_fitted(clf)

    first = steps[0][1] if steps else clf
    if input_dtype is None:
        input_dtype = first.input_dtype_
    raw_dtype = dtype = np.dtype(input_dtype)
    reshapers = [step for _, step in steps if isinstance(step, ImageReshaper)]
    input_shape = tuple(reshapers[0].input_shape_ if reshapers else clf.input_shape_)

    layers, shape = [], input_shape
    for _, step in steps:
        if isinstance(step, ImageReshaper):
            target, transpose = step._plan(shape)
            layers.append(_Reshape(target, transpose))
            shape = tuple(step.output_shape_)
        elif isinstance(step, ImageNormalizer):
            layers.append(_Normalize(step.mean_, step.std_, len(shape) + 1, step.layout_,
                                     scale=dtype == np.uint8, dtype=step.dtype))
            dtype = np.dtype(np.float32)
    layers.append(_NetworkInput(len(clf.input_shape_) + 1, clf.layout_))
    metadata = {"input_shape": list(input_shape), "input_dtype": raw_dtype.name,
                "sk_cnn_version": __version__}
    example = torch.from_numpy(np.zeros((2,) + input_shape, raw_dtype))
    if isinstance(clf, CNNFeatureExtractor):  # transform's features: no output function
        network = copy.deepcopy(clf.module_).to("cpu").eval().requires_grad_(False)
        module = ServingModule(nn.Sequential(*layers), network, nn.Identity()).eval()
        return module, example, {"n_features": int(clf.n_features_out_), **metadata}

    clf._check_tta(images=clf._fitted_on_images())
    if clf.tta not in (None, "flip"):
        raise ValueError(
            f"tta={clf.tta!r} cannot be exported (only None and 'flip' are); set "
            f"tta='flip' or None on the fitted classifier (clf.set_params(tta='flip')) and "
            f"export again.")
    # Frozen weights: the loaded program then returns plain tensors, not ones that require grad.
    # The weights keep their channels_last layout: training steps run 1.3-1.4x faster in it
    # on CPUs (benchmarks/cpu_checks.py layout).
    network = copy.deepcopy(clf.module_).to("cpu")
    network.eval().requires_grad_(False)
    regressor = isinstance(clf, CNNRegressor)
    output = (_Unscale(clf.target_mean_, clf.target_scale_) if regressor
              else predict_nonlinearity(clf))
    module = ServingModule(nn.Sequential(*layers), network, output,
                           flip_tta=clf.tta == "flip").eval()
    if regressor:
        return module, example, {"n_outputs": int(clf.n_outputs_), **metadata}
    classes = clf.classes_.tolist()
    try:
        json.dumps(classes)
    except TypeError:
        raise ValueError(
            f"The class labels {classes[:5]} cannot be written into the model's metadata: use "
            f"str, int, float or bool labels.") from None
    if getattr(clf, "multilabel_", False):  # probabilities of each label (a sigmoid each)
        metadata = {"multilabel": True, "threshold": float(clf.threshold), **metadata}
    return module, example, {"classes": classes, **metadata}
