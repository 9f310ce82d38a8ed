"""A Keras-like table of an sk_cnn estimator's network: layers, output shapes, parameters.

The forward pass with shape-recording hooks is torchinfo's (it runs the network in eval mode
under ``torch.no_grad`` and restores the mode afterwards, so batch-norm statistics and the
weights are untouched); this module only picks the rows and formats them. The totals are
counted from ``module.parameters()`` directly, so they always match the network.
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral

import numpy as np
import torch
import torchinfo
from sklearn.base import clone, is_classifier
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline

from .data import canonical_view, resolve_channels
from .training import CNNTrainingMixin


@dataclass(frozen=True)
class LayerRow:
    """One row of a :class:`ModelSummary`.

    Parameters
    ----------
    name : str
        Dotted path of the layer in the network (``features.block1.conv``), usable as
        ``clf.module_.get_submodule(name)``.
    type : str
        Class name of the layer.
    output_shape : tuple
        Shape of the layer's output for one sample, batch axis first (1 in the forward pass,
        printed as None).
    n_params : int
        Parameters the layer holds itself (its children excluded).
    n_trainable : int
        Those of them with ``requires_grad=True``.
    reused : bool
        True when the layer already ran earlier in the forward pass (its parameters are
        counted at its first row only).
    """

    name: str
    type: str
    output_shape: tuple
    n_params: int
    n_trainable: int
    reused: bool = False

    @property
    def status(self) -> str:
        """"trainable", "frozen", "partly frozen", or "" for a layer without parameters."""
        if self.n_params == 0:
            return ""
        if self.n_trainable == self.n_params:
            return "trainable"
        return "frozen" if self.n_trainable == 0 else "partly frozen"


class ModelSummary:
    """Keras-like summary of a network; ``print`` it (or look at it) to see the table.

    Made by :meth:`sk_cnn.CNNClassifier.summary` or :func:`model_summary`.

    Parameters
    ----------
    layers : list of LayerRow
        One row per layer that ran, in the order of the forward pass.
    total_params : int
        ``sum(p.numel() for p in module.parameters())``.
    trainable_params : int
        The parameters with ``requires_grad=True``.
    input_shape : tuple of int
        Shape of one sample as the classifier receives it (e.g. ``(32, 32, 3)``).
    network_input_shape : tuple of int
        Shape of the batch of one the network ran on, channels first (e.g. ``(1, 3, 32, 32)``).
    title : str, default=""
        First line of the table.
    stats : torchinfo.ModelStatistics or None, default=None
        torchinfo's full result (mult-adds, memory estimates, its own table).

    Attributes
    ----------
    non_trainable_params : int
        ``total_params - trainable_params``.
    """

    def __init__(self, layers, total_params, trainable_params, input_shape,
                 network_input_shape, title="", stats=None):
        self.layers = list(layers)
        self.total_params = int(total_params)
        self.trainable_params = int(trainable_params)
        self.non_trainable_params = self.total_params - self.trainable_params
        self.input_shape = tuple(input_shape)
        self.network_input_shape = tuple(network_input_shape)
        self.title = title
        self.stats = stats

    def _table(self) -> str:
        header = ("Layer (type)", "Output shape", "Param #", "Trainable")
        rows = [(f"{row.name} ({row.type})", _shape_text(row.output_shape),
                 "(reused)" if row.reused else f"{row.n_params:,}", row.status)
                for row in self.layers]
        widths = [max(len(line[i]) for line in [header, *rows]) for i in range(4)]

        def line(cells):
            return (f"{cells[0]:<{widths[0]}}  {cells[1]:<{widths[1]}}  "
                    f"{cells[2]:>{widths[2]}}  {cells[3]}").rstrip()

        rule = "=" * (sum(widths) + 6)
        lines = [self.title] if self.title else []
        lines += [rule, line(header), rule, *(line(r) for r in rows), rule,
                  f"Total params: {self.total_params:,}",
                  f"Trainable params: {self.trainable_params:,}",
                  f"Non-trainable params: {self.non_trainable_params:,}"]
        listed = sum(row.n_params for row in self.layers if not row.reused)
        if listed != self.total_params:
            lines.append(f"({self.total_params - listed:,} parameters belong to layers that did "
                         f"not run in the forward pass.)")
        lines.append(rule)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self._table()

    def __repr__(self) -> str:
        return self._table()


def _shape_text(shape) -> str:
    if isinstance(shape, (list, tuple)) and shape and all(isinstance(s, Integral) for s in shape):
        return "(" + ", ".join(["None", *map(str, shape[1:])]) + ")"
    return str(shape) if shape else "?"


def summarize_module(module: torch.nn.Module, network_input_shape: tuple[int, ...], *,
                     input_shape: tuple[int, ...] | None = None,
                     title: str = "") -> ModelSummary:
    """Summarize any torch module run on a float batch of the given shape.

    Parameters
    ----------
    module : torch.nn.Module
        The network; its mode (train or eval) and state are left as they were.
    network_input_shape : tuple of int
        Shape of the batch to run, batch axis first (e.g. ``(1, 3, 32, 32)``).
    input_shape : tuple of int or None, default=None
        Shape of one sample as the user gives it, for the record; None means
        ``network_input_shape[1:]``.
    title : str, default=""
        First line of the table.

    Returns
    -------
    summary : ModelSummary
        The table and the totals.
    """
    params = list(module.parameters())
    device = params[0].device if params else torch.device("cpu")
    # torchinfo restores the root's mode on every layer; keep mixed modes (e.g. frozen
    # batch-norm layers in eval mode inside a training network) as they were.
    modes = [(layer, layer.training) for layer in module.modules()]
    try:
        # torchinfo draws its sample from torch's global generator: leave the caller's alone.
        with torch.random.fork_rng(devices=[]):
            stats = torchinfo.summary(module, input_size=tuple(network_input_shape),
                                      device=device, mode="eval", verbose=0, depth=100,
                                      col_names=("output_size", "num_params", "trainable"))
    finally:
        for layer, training in modes:
            layer.training = training
        # torchinfo keeps the last forward pass (and so the network) in a module-level cache
        # even when caching is off; drop it so a deleted model can free its (GPU) memory.
        getattr(torchinfo.torchinfo, "clear_cached_forward_pass", lambda: None)()
    names = {id(m): name for name, m in module.named_modules()}
    rows = []
    for info in stats.summary_list:
        own = list(info.module.parameters(recurse=False))
        if not (info.is_leaf_layer or own):
            continue  # containers are listed through their layers
        rows.append(LayerRow(name=names.get(id(info.module), info.var_name) or "(network)",
                             type=info.class_name, output_shape=tuple(info.output_size),
                             n_params=sum(p.numel() for p in own),
                             n_trainable=sum(p.numel() for p in own if p.requires_grad),
                             reused=info.is_recursive))
    return ModelSummary(
        rows, total_params=sum(p.numel() for p in params),
        trainable_params=sum(p.numel() for p in params if p.requires_grad),
        input_shape=network_input_shape[1:] if input_shape is None else input_shape,
        network_input_shape=network_input_shape, title=title, stats=stats)


def _check_input_shape(input_shape) -> tuple[int, ...]:
    try:
        shape = tuple(input_shape)
    except TypeError:
        shape = None
    if (shape is None or not 1 <= len(shape) <= 3
            or not all(isinstance(s, Integral) and not isinstance(s, bool) and s > 0
                       for s in shape)):
        raise ValueError(
            f"input_shape must be the shape of one sample as you would pass it to fit, without "
            f"the samples axis: (length,) for 1-D signals, (height, width), (height, width, "
            f"channels) or (channels, height, width); got {input_shape!r}.")
    return tuple(int(s) for s in shape)


def model_summary(estimator, input_shape: tuple[int, ...] | None = None, *,
                  n_classes: int | None = None, n_outputs: int = 1) -> ModelSummary:
    """Keras-like summary of a CNNClassifier's or CNNRegressor's network (or a Pipeline's).

    Parameters
    ----------
    estimator : CNNClassifier, CNNRegressor or Pipeline ending in one
        Fitted, or not fitted when ``input_shape`` is given.
    input_shape : tuple of int or None, default=None
        Shape of one sample as the classifier receives it, e.g. ``(32, 32, 3)``. A fitted
        classifier uses its ``input_shape_``; giving another shape raises.
    n_classes : int or None, default=None
        Units of the output layer before fit; None takes ``len(classes)`` when the classifier
        was given ``classes``. Ignored once fitted, and for regressors.
    n_outputs : int, default=1
        Units of a regressor's output layer before fit. Ignored once fitted, and for
        classifiers.

    Returns
    -------
    summary : ModelSummary
        Printing it shows the table.
    """
    clf = estimator.steps[-1][1] if isinstance(estimator, Pipeline) else estimator
    if not isinstance(clf, CNNTrainingMixin):
        raise TypeError(f"model_summary needs a CNNClassifier or CNNRegressor (or a Pipeline "
                        f"ending in one), got "
                        f"{type(clf).__name__}. For any torch module use summarize_module.")
    name = type(clf).__name__
    if getattr(clf, "initialized_", False) and hasattr(clf, "input_shape_"):
        if input_shape is not None and _check_input_shape(input_shape) != clf.input_shape_:
            raise ValueError(
                f"This {name} was fitted on samples of shape {clf.input_shape_}; its summary "
                f"is at that shape, got input_shape={tuple(input_shape)}. Leave input_shape "
                f"out, or summarize an unfitted clone at the other shape.")
        shape, fitted = clf.input_shape_, clf
    elif input_shape is None:
        raise NotFittedError(
            f"This {name} is not fitted yet, so the shape of its input is unknown. Fit it "
            f"first, or pass the shape of one sample, e.g. summary(input_shape=(32, 32, 3), "
            f"n_classes=10).")
    else:
        shape = _check_input_shape(input_shape)
        fitted = _unfitted_network(clf, shape, n_classes, n_outputs)
    sample = canonical_view(np.empty((1, *shape), np.uint8), fitted.layout_)
    title = f"{name} on samples of shape {shape}" + ("" if fitted is clf else " (not fitted)")
    return summarize_module(fitted.module_, tuple(sample.shape), input_shape=shape, title=title)


def _unfitted_network(clf, shape, n_classes, n_outputs):
    """A clone of clf holding the network it would build for samples of this shape (its
    random initialization drawn without touching the caller's global generator)."""
    network = clone(clf)
    if is_classifier(clf):
        if n_classes is None:
            if getattr(clf, "classes", None) is None:
                raise ValueError(
                    "Before fit the number of classes is unknown too: pass n_classes (e.g. "
                    "summary(input_shape=(32, 32, 3), n_classes=10)) or give the classifier "
                    "classes=[...].")
            n_classes = len(clf.classes)
        if not isinstance(n_classes, Integral) or n_classes < 2:
            raise ValueError(f"n_classes must be an integer >= 2, got {n_classes!r}.")
        network.classes = None
        network.classes_inferred_ = np.arange(n_classes)
    else:
        if not isinstance(n_outputs, Integral) or n_outputs < 1:
            raise ValueError(f"n_outputs must be an integer >= 1, got {n_outputs!r}.")
        network.n_outputs_ = n_outputs
    network._validate_hyperparameters()  # the errors fit would raise
    network.layout_ = resolve_channels((1, *shape), clf.channels, clf.input_type)
    network.input_shape_ = shape
    with torch.random.fork_rng(devices=[]), network._current_init_context("module"):
        network.initialize_module()  # on the CPU: nothing is trained
    return network
