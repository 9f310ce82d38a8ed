"""Grad-CAM: where a fitted image network finds the evidence for a class (Selvaraju et al.,
"Grad-CAM: Visual Explanations from Deep Networks via Gradient-based Localization", 2017).

The activations ``A`` of one layer and the gradients ``G`` of the explained score with respect to
them give the map ``relu(sum_k mean(G_k) * A_k)``: each channel weighted by how much the score
grows with it, keeping only the evidence for the score. The map is upsampled to the image size
and scaled to [0, 1] per image.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import is_classifier
from sklearn.pipeline import Pipeline
from torch import nn
from torchvision.models import SwinTransformer, VisionTransformer

from ..estimators import CNNClassifier, CNNRegressor
from ..estimators._targets import unknown_labels
from ..networks._airbench import AirbenchNet
from ..networks._backbones import BackboneNet
from ..training._batching import to_network_input

#: What the explained layer outputs -> feature maps (N, C, h, w).
ToMaps = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class GradCamResult:
    """What :func:`grad_cam` computed, for the plots: the maps and what they explain."""

    maps: np.ndarray  # (N, H, W) in [0, 1]
    images: np.ndarray  # the samples as the network receives them, channels first
    explained: np.ndarray  # the class position (classifier) or output column (regressor)
    predicted: np.ndarray  # the network's prediction: class positions, or scaled outputs
    layer: str  # name of the explained layer in ``module_``
    estimator: CNNClassifier | CNNRegressor


def grad_cam(estimator, X, *, target=None, layer: str | None = None) -> np.ndarray:
    """Grad-CAM heat maps: where in each image the network finds the evidence for a class.

    The activations of one layer, each channel weighted by the mean gradient of the explained
    score with respect to it, summed over channels and rectified (Selvaraju et al., 2017). The
    network runs in evaluation mode, in float32 on the estimator's device, without test-time
    augmentation; the estimator is left exactly as it was (weights, ``requires_grad`` of each
    parameter, train/eval modes, no ``.grad`` left behind).

    Parameters
    ----------
    estimator : CNNClassifier, CNNRegressor or Pipeline ending in one
        Fitted on images. A Pipeline's transformers are applied to X first.
    X : array-like
        Images in any layout the estimator accepts.
    target : None, "predicted", a label, or array-like of shape (n_samples,), default=None
        For a classifier, the class whose score (logit) is explained: None and "predicted" take
        each image's predicted class (the network's highest logit); one label of ``classes_``
        explains that class in every image; one label per image, that label in each. For a
        regressor, the predicted value is explained: None for a single target, or the column
        (int) of the target to explain.
    layer : str or None, default=None
        Name of the explained layer in ``module_`` (as ``module_.get_submodule(layer)`` and the
        estimator's ``summary()`` name it). None picks the last stage of the network whose
        output has more than one position (a 1x1 map cannot say where; when every stage's
        output is 1x1, the last stage, and the maps are 0): the activation of each block of the
        plain CNN (``features.block<i>.act``), each block of the airbench network
        (``blocks.<i>``), each stage of a torchvision backbone (as its ``freeze`` counts them:
        ``model.layer4`` of a ResNet, ``model.features.<i>`` of MobileNet or ConvNeXt), each
        stage of a Swin transformer (``model.features.<i>``, channels-last outputs permuted),
        the last Conv2d of any other network. A vision transformer's map is of the tokens that
        the last encoder block's attention reads (``model.encoder.layers[-1].ln_1``; the class
        token dropped, the patch tokens reshaped to their grid): the blocks' own outputs reach
        the head only through the class token, so their patch tokens get no gradient.

    Returns
    -------
    maps : ndarray of shape (n_samples, H, W), float32
        One map per image at the image size (bilinear upsampling), scaled to [0, 1] per image;
        a map is 0 where the layer shows no evidence for the score (all 0 when nowhere).

    Raises
    ------
    TypeError
        When the estimator (or the Pipeline's last step) is not a CNNClassifier or
        CNNRegressor.
    ValueError
        For a network of 1-D signals, an unknown label or layer, or a layer whose output has
        no spatial grid.

    Examples
    --------
    >>> from sk_cnn import CNNClassifier
    >>> from sk_cnn.datasets import load_digits_images
    >>> from sk_cnn.inspection import grad_cam
    >>> X, y = load_digits_images()
    >>> clf = CNNClassifier(conv_filters=(8, 16), max_epochs=1, verbose=0).fit(X[:300], y[:300])
    >>> grad_cam(clf, X[:5]).shape
    (5, 8, 8)
    """
    return explain(estimator, X, target=target, layer=layer).maps


def explain(estimator, X, *, target=None, layer: str | None = None) -> GradCamResult:
    """:func:`grad_cam`, with the images, the explained targets and predictions, the layer."""
    clf, X = _estimator_input(estimator, X)
    images = clf._validate_predict_data(X)
    if images.ndim != 4:
        raise ValueError(
            f"grad_cam explains networks of images; this {type(clf).__name__} was fitted on "
            f"1-D signals of shape {clf.input_shape_}. Grad-CAM locates evidence on an image "
            f"grid; for signals look at the predictions instead.")
    module = clf.module_
    name, to_maps = _explained_layer(module, layer, images[:1], clf.device)
    explained = _explained(clf, target, len(images))
    batch = len(images) if clf.batch_size == -1 else clf.batch_size
    maps, predicted = [], []
    with _untouched(module):
        module.eval()
        for start in range(0, len(images), batch):
            stop = start + batch
            cams, outputs = _batch_cam(module, module.get_submodule(name), to_maps,
                                       to_network_input(images[start:stop], clf.device),
                                       None if explained is None else explained[start:stop])
            maps.append(cams)
            predicted.append(outputs)
    predicted = np.concatenate(predicted)
    if is_classifier(clf):
        predicted = predicted.argmax(axis=1)
    if explained is None:  # a classifier's predicted class
        explained = predicted
    return GradCamResult(np.concatenate(maps), images.numpy(), np.asarray(explained),
                         predicted, name, clf)


def _estimator_input(estimator, X):
    """The fitted estimator at the end of ``estimator`` and X as it receives it."""
    clf = estimator.steps[-1][1] if isinstance(estimator, Pipeline) else estimator
    if not isinstance(clf, (CNNClassifier, CNNRegressor)):
        raise TypeError(f"grad_cam needs a CNNClassifier or CNNRegressor (or a Pipeline ending "
                        f"in one), got {type(clf).__name__}.")
    if isinstance(estimator, Pipeline) and len(estimator) > 1:
        X = estimator[:-1].transform(X)
    return clf, X


def _explained(clf, target, n: int):
    """Positions of the explained classes (None: the predicted ones), or the output column."""
    if not is_classifier(clf):
        if target is None and clf.n_outputs_ == 1:
            return np.zeros(n, dtype=np.int64)
        if not isinstance(target, (int, np.integer)) or not 0 <= target < clf.n_outputs_:
            raise ValueError(
                f"target must be the column of the explained target, an int in [0, "
                f"{clf.n_outputs_ - 1}], for a CNNRegressor of {clf.n_outputs_} targets (None "
                f"when there is one); got {target!r}.")
        return np.full(n, target, dtype=np.int64)
    if target is None or (isinstance(target, str) and target == "predicted"):
        return None
    classes = np.asarray(clf.classes_)
    labels = np.asarray(target)
    if labels.ndim == 0:
        labels = np.repeat(labels, n)
    if labels.shape != (n,):
        raise ValueError(f"target must be None, 'predicted', one label, or one label per "
                         f"image ({n}); got an array of shape {labels.shape}.")
    unknown = unknown_labels(labels, classes)
    if unknown:
        raise ValueError(f"target has labels {unknown[:10]} that are not among the classes "
                         f"{classes.tolist()[:10]} the classifier was fitted on.")
    position = {label: i for i, label in enumerate(classes.tolist())}
    return np.array([position[label] for label in labels.tolist()], dtype=np.int64)


def _nchw(out: torch.Tensor) -> torch.Tensor:
    return out


def _nhwc(out: torch.Tensor) -> torch.Tensor:
    return out.permute(0, 3, 1, 2)


def _vit_tokens(out: torch.Tensor) -> torch.Tensor:
    """Patch tokens (N, 1 + h*w, D), class token first, as feature maps (N, D, h, w)."""
    side = math.isqrt(out.shape[1] - 1)
    return out[:, 1:].reshape(out.shape[0], side, side, out.shape[2]).permute(0, 3, 1, 2)


def _candidates(module: nn.Module) -> list[tuple[str, ToMaps]]:
    """The layers ``layer=None`` chooses from, input to output (see :func:`grad_cam`)."""
    if isinstance(module, AirbenchNet):
        return [(f"blocks.{i}", _nchw) for i in range(len(module.blocks))]
    if isinstance(module, BackboneNet):
        model = module.model
        if isinstance(model, VisionTransformer):
            ln_1 = model.encoder.layers[-1].ln_1
            return [(next(n for n, m in module.named_modules() if m is ln_1), _vit_tokens)]
        if isinstance(model, SwinTransformer):
            return [(f"model.features.{i}", _nhwc) for i in range(len(model.features))]
        return [(f"model.{name}", _nchw) for name, _ in module.stages()]
    children = dict(module.named_children())
    if isinstance(children.get("features"), nn.Sequential) and all(
            hasattr(block, "act") for block in children["features"]):  # the plain CNN
        return [(f"features.{name}.act", _nchw)
                for name, _ in children["features"].named_children()]
    return [(name, _nchw) for name, m in module.named_modules() if isinstance(m, nn.Conv2d)]


def _to_maps_of(module: nn.Module, name: str) -> ToMaps:
    """How the output of the layer ``name`` becomes feature maps."""
    model = getattr(module, "model", None) if isinstance(module, BackboneNet) else None
    if isinstance(model, SwinTransformer) and name.startswith("model.features"):
        return _nhwc
    if isinstance(model, VisionTransformer) and name.startswith("model.encoder"):
        return _vit_tokens
    return _nchw


def _explained_layer(module, layer, sample, device) -> tuple[str, ToMaps]:
    """The explained layer's name and reader: ``layer``, or chosen by shape on one sample."""
    if layer is not None:
        names = dict(module.named_modules())
        if not isinstance(layer, str) or not layer or layer not in names:
            raise ValueError(
                f"layer must be None or the name of a layer of the network (as in "
                f"module_.get_submodule(layer) and the estimator's summary()), such as "
                f"{[n for n, _ in _candidates(module)][-3:]}; got {layer!r}.")
        candidates = [(layer, _to_maps_of(module, layer))]
    else:
        candidates = _candidates(module)
        if not candidates:
            raise ValueError("The network has no convolution to explain; name a layer with "
                             "layer=.")
    shapes = {}

    def record(name):
        def hook(m, inputs, out):
            shapes[name] = tuple(out.shape) if isinstance(out, torch.Tensor) else None
        return hook

    hooks = [module.get_submodule(name).register_forward_hook(record(name))
             for name, _ in candidates]
    try:
        with _untouched(module), torch.inference_mode():
            module.eval()
            module(to_network_input(sample, device))
    finally:
        for hook in hooks:
            hook.remove()
    for name, to_maps in candidates:
        shapes[name] = _maps_shape(shapes.get(name), to_maps, name)
    spread = [(name, to_maps) for name, to_maps in candidates if math.prod(shapes[name][2:]) > 1]
    return (spread or candidates)[-1]


def _maps_shape(shape, to_maps, name):
    """The feature maps' shape of a layer output of ``shape``; a ValueError if it has none."""
    wanted = 3 if to_maps is _vit_tokens else 4
    if shape is None or len(shape) != wanted:
        needs = "tokens (N, 1 + h*w, D)" if wanted == 3 else "feature maps (N, C, h, w)"
        raise ValueError(
            f"Layer {name!r} outputs {'no tensor' if shape is None else f'shape {shape}'}; "
            f"Grad-CAM needs {needs} there. Name another layer.")
    return tuple(to_maps(torch.empty(shape, device="meta")).shape)


def _batch_cam(module, layer, to_maps, images, explained):
    """Maps and network outputs of one batch."""
    captured = {}

    def keep(m, inputs, out):
        # A leaf of its own: its gradient comes without touching any parameter's
        # requires_grad, and exists when every layer before it is frozen. Layers after it
        # see a copy, which an in-place operation (DenseNet's ReLU) may change.
        captured["leaf"] = out.detach().requires_grad_(True)
        return captured["leaf"].clone()

    hook = layer.register_forward_hook(keep)
    try:
        with torch.inference_mode(False), torch.enable_grad():
            outputs = module(images).float()
            index = (outputs.argmax(1) if explained is None
                     else torch.as_tensor(explained, device=outputs.device))
            score = outputs.gather(1, index[:, None]).sum()
            (gradient,) = torch.autograd.grad(score, captured["leaf"])
    finally:
        hook.remove()
    with torch.no_grad():
        activation, gradient = to_maps(captured["leaf"]).float(), to_maps(gradient).float()
        cam = F.relu((gradient.mean(dim=(2, 3), keepdim=True) * activation).sum(1, keepdim=True))
        cam = F.interpolate(cam, size=images.shape[-2:], mode="bilinear", align_corners=False)
        cam = cam[:, 0]
        low = cam.amin(dim=(1, 2), keepdim=True)
        span = cam.amax(dim=(1, 2), keepdim=True) - low
        cam = torch.where(span > 0, (cam - low) / span.clamp_min(1e-12), torch.zeros_like(cam))
    return cam.cpu().numpy().astype(np.float32), outputs.detach().cpu().numpy()


class _untouched:
    """Restore every submodule's train/eval mode on exit, as it was on entry."""

    def __init__(self, module: nn.Module):
        self.modes = [(m, m.training) for m in module.modules()]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for m, training in self.modes:
            m.training = training
