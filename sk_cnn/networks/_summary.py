"""A Keras-like table of a torch network: layers, output shapes, parameters, trainable.

The forward pass with shape-recording hooks is torchinfo's (it runs the network in eval mode
under ``torch.no_grad`` and restores the mode afterwards, so batch-norm statistics and the
weights are untouched); this module only picks the rows and formats them. The totals are
counted from ``module.parameters()`` directly, so they always match the network.
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral

import torch
import torchinfo
from torchvision.models.swin_transformer import ShiftedWindowAttention

# Layers that use their sublayers' weights in a functional call (see _own_parameters);
# ShiftedWindowAttentionV2 is a subclass.
_CALLS_THROUGH = (torch.nn.MultiheadAttention, ShiftedWindowAttention)


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

    Made by :meth:`sk_cnn.CNNClassifier.summary` or :func:`sk_cnn.inspection.model_summary`.

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
    ran = {id(info.module) for info in stats.summary_list}
    rows = []
    for info in stats.summary_list:
        own = _own_parameters(info.module, ran)
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


def _own_parameters(layer: torch.nn.Module, ran: set[int]) -> list[torch.nn.Parameter]:
    """The parameters a layer's row counts: its own, and those of sublayers it calls through.

    Attention layers hand their projections' weights to one functional call
    (``nn.MultiheadAttention``'s ``out_proj``, Swin's ``qkv`` and ``proj``): those sublayers
    never run as modules, and their parameters belong to the layer that used them. Other
    sublayers that did not run are reported as such.
    """
    params = list(layer.parameters(recurse=False))
    if isinstance(layer, _CALLS_THROUGH):
        params += [p for child in layer.children() if id(child) not in ran
                   for p in child.parameters()]
    return params
