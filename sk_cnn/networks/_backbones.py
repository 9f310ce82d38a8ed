"""Transfer learning: torchvision backbones with a new head, adapted input channels, freezing.

Initial weights come from :mod:`._weights` (a file, or torchvision's weights, downloaded
into the torch hub cache on first use).
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import list_models
from torchvision.models.vision_transformer import VisionTransformer, interpolate_embeddings

from ._families import (
    FAMILIES,
    MIN_INPUT_SIZE,
    backbone_stages,
    family,
    output_layer_name,
    replace_output_layer,
    resolve_input_size,
    torchvision_model,
)
from ._weights import load_matching, load_weights, warn_left_out, with_versions


def available_backbones() -> list[str]:
    """Names of the torchvision classification models valid for ``backbone=``.

    Every one of torchvision's: the convolutional families (resnet, resnext, wide_resnet,
    mobilenet, efficientnet, convnext, densenet, mnasnet, regnet, shufflenet, vgg, alexnet,
    googlenet, inception_v3, squeezenet) and the transformers (vit, swin, maxvit). Images are
    resized inside the network to a size the model runs at (see ``input_size`` in
    :class:`sk_cnn.CNNClassifier`).

    Returns
    -------
    names : list of str
        Sorted model names.
    """
    return sorted(name for name in list_models(module=__import__("torchvision").models)
                  if family(name) in FAMILIES)


def check_backbone_name(name: str) -> None:
    """Raise a ValueError unless ``name`` is in :func:`available_backbones`.

    Parameters
    ----------
    name : str
        The ``backbone`` parameter.

    Raises
    ------
    ValueError
        Naming the problem (an unknown name, or a torchvision family sk_cnn does not
        adapt) and names to use instead.
    """
    if name in available_backbones():
        return
    known = name in list_models(module=__import__("torchvision").models)
    raise ValueError(
        (f"backbone={name!r} is a torchvision model of a family sk_cnn does not adapt yet "
         f"(it adapts {', '.join(FAMILIES)})." if known else f"Unknown backbone {name!r}.")
        + " Use one of sk_cnn.networks.available_backbones(), such as 'resnet18', "
        "'mobilenet_v3_small', 'efficientnet_b0' or 'vit_b_16'.")


class _HeadReached(Exception):
    """Ends a forward pass where the head starts (:meth:`BackboneNet.head_input`)."""


class BackboneNet(nn.Module):
    """A torchvision classifier whose head predicts ``n_outputs`` classes.

    Parameters
    ----------
    model : torch.nn.Module
        The torchvision model, its head already replaced.
    head : str
        Name of the head's attribute on ``model`` ("fc", "classifier", ViT's "heads", Swin's
        "head"): the top-level child holding the output layer.
    input_size : tuple of int
        Images of another size are resized to this ``(H, W)`` inside ``forward``, as one
        batched bilinear interpolation (also in an exported model).
    torchvision_output : str or None, default=None
        Name of the output layer in torchvision's own model, where sk_cnn's head may differ
        (ResNet's ``fc`` is ``fc.1`` after a Dropout); None when the names are the same.

    Attributes
    ----------
    takes_features : bool
        Whether ``forward`` takes what :meth:`head_input` returns instead of images and runs
        the head alone (:meth:`run_head`); set while a fit trains the head on a frozen
        backbone's precomputed features.
    frozen : list of str
        Names of the frozen stages. They run as at inference, in training too: batch norm
        keeps its running statistics, dropout and stochastic depth are off (a frozen stage
        is a fixed function, so the features of a frozen backbone can be computed once).
    """

    takes_features = False

    def __init__(self, model: nn.Module, head: str, input_size: tuple[int, int],
                 torchvision_output: str | None = None):
        super().__init__()
        self.model = model
        self.head = head
        self.input_size = tuple(input_size)
        self.torchvision_output = torchvision_output
        self.frozen: list[str] = []

    def forward(self, x):
        if self.takes_features:
            return self.run_head(x)
        if tuple(x.shape[-2:]) != self.input_size:
            x = F.interpolate(x, size=self.input_size, mode="bilinear", align_corners=False)
        return self.model(x)

    def stages(self) -> list[tuple[str, nn.Module]]:
        """The backbone's parts in input-to-output order, the head excluded.

        Models with a ``features`` sequence (MobileNet, EfficientNet, ConvNeXt, Swin) have
        one stage per entry of it, MaxViT one per block; a vision transformer has its patch
        embedding (``conv_proj``), each encoder block and the final norm; the others (ResNet)
        one per top-level child holding parameters.
        """
        return backbone_stages(self.model, self.head)

    def freeze(self, freeze) -> None:
        """Freeze nothing (None), every stage ("backbone") or the first ``freeze`` stages.

        Parameters of the model itself rather than of a stage (ViT's class token and position
        embedding) are frozen with the first stage.
        """
        self.unfreeze()
        stages = self.stages()
        count = len(stages) if freeze == "backbone" else int(freeze or 0)
        if count > len(stages):
            raise ValueError(f"freeze={freeze} but the backbone has {len(stages)} stages.")
        for name, stage in stages[:count]:
            stage.requires_grad_(False)
            self.frozen.append(name)
        if count:
            inside = {id(p) for module in [getattr(self.model, self.head)] + [
                stage for _, stage in stages] for p in module.parameters()}
            for parameter in self.model.parameters():
                if id(parameter) not in inside:
                    parameter.requires_grad_(False)
        self.train(self.training)

    def unfreeze(self) -> None:
        """Make every parameter trainable again."""
        self.model.requires_grad_(True)
        self.frozen = []

    def train(self, mode: bool = True):
        if self.takes_features:  # only the head runs: leave the backbone's layers as they are
            self.training = mode
            for layer in self._tail():
                layer.train(mode)
            return self
        super().train(mode)
        if mode:  # frozen parts are fixed functions: (pretrained) batch norm statistics kept
            for module in self._fixed_modules():
                module.eval()
        return self

    def _fixed_modules(self) -> list[nn.Module]:
        """The frozen stages, and when every stage is, the parameterless top-level layers
        outside the head too; cached per value of ``frozen`` (``train`` runs every batch)."""
        key = tuple(self.frozen)
        cached = self.__dict__.get("_fixed")
        if cached is None or cached[0] != key:
            fixed = [self.model.get_submodule(name) for name in self.frozen]
            if key and len(key) == len(self.stages()):
                tail = self._tail()
                fixed += [child for child in self.model.children()
                          if all(child is not layer for layer in tail)]
            self.__dict__["_fixed"] = cached = (key, fixed)
        return cached[1]

    def _tail(self) -> list[nn.Module]:
        """The trainable end of the network, in order: the head, after the Dropout in front of
        it where the model owns one (GoogLeNet's and Inception's ``model.dropout``)."""
        head = getattr(self.model, self.head)
        own_dropout = getattr(self.model, "dropout", None)
        if isinstance(own_dropout, nn.Dropout) and not isinstance(head, nn.Sequential):
            return [own_dropout, head]
        return [head]

    def head_input(self, x: torch.Tensor) -> torch.Tensor:
        """What the head receives for images ``x``: the output of everything before it.

        With ``freeze="backbone"`` this is the frozen backbone's output, which
        :meth:`run_head` turns into the network's output.
        """
        captured = []

        def capture(module, args):
            captured.append(args[0])
            raise _HeadReached

        handle = self._tail()[0].register_forward_pre_hook(capture)
        try:
            self(x)
        except _HeadReached:
            pass
        finally:
            handle.remove()
        return captured[0]

    def run_head(self, features: torch.Tensor) -> torch.Tensor:
        """The network's output for ``features`` from :meth:`head_input`: the head alone.

        Flattens where torchvision's forward does: before a Linear layer (Inception's
        ``fc``), and SqueezeNet's ``(N, C, 1, 1)`` output.
        """
        for module in self._tail():
            if isinstance(module, nn.Linear) and features.ndim > 2:
                features = features.flatten(1)
            features = module(features)
        return features.flatten(1) if features.ndim > 2 else features

    def backbone_parameters(self):
        """Parameters outside the head."""
        head = {id(p) for p in getattr(self.model, self.head).parameters()}
        return [p for p in self.model.parameters() if id(p) not in head]


def build_backbone(name: str, *, n_outputs: int, in_channels: int, dropout: float,
                   weights=None, input_size=None, image_size=(MIN_INPUT_SIZE,) * 2,
                   ) -> BackboneNet:
    """Build torchvision's ``name`` with its weights, a new head and adapted input channels.

    Parameters
    ----------
    name : str
        A torchvision classification model ("resnet18", "mobilenet_v3_small", ...).
    n_outputs : int
        Classes of the new head.
    in_channels : int
        Channels of the images. For 1 channel the first convolution's pretrained RGB kernels
        are summed; for more than 3 they are repeated cyclically and scaled by 3 / channels,
        so the first layer's response to a gray (or repeated) image is unchanged.
    dropout : float
        Dropout before the new output layer.
    weights : None, str or path, default=None
        None (random), a torchvision weights name (downloaded into the torch hub cache when
        missing), an http(s) address of a state dict file (likewise), or a state dict file.
        Layers whose shapes differ (the old head) keep their new initialization; a vision
        transformer's position embedding is interpolated to its grid of patches.
        The head's output layer is read under torchvision's name (a file of torchvision or
        of :func:`sk_cnn.save_weights`) or under sk_cnn's, and restored when it has
        ``n_outputs`` outputs.
    input_size : int, tuple of int or None, default=None
        Size images are resized to; None keeps ``image_size`` unless it is below the
        smallest size the model runs at (32 pixels for most), and takes the size of the
        DEFAULT weights for transformers (224; 256 for ``swin_v2_*``, 518 for ``vit_h_14``).
        See :func:`~._families.resolve_input_size` for the sizes each family accepts.
    image_size : tuple of int, default=(32, 32)
        Size of the training images.

    Returns
    -------
    module : BackboneNet
        The network.
    """
    check_backbone_name(name)
    input_size = resolve_input_size(name, input_size, image_size)
    model = torchvision_model(name, in_channels=in_channels, input_size=input_size)
    state = load_weights(weights, name)
    if state is not None and isinstance(model, VisionTransformer):
        state = _fit_position_embedding(model, state)
    left_out = [] if state is None else load_matching(model, state, weights, warn=False)
    torchvision_output = output_layer_name(model)
    head = torchvision_output.split(".")[0]
    # What the second pass below must not overwrite; the output layer is replaced.
    loaded = {k for k in set(model.state_dict()) - set(left_out)
              if k.rpartition(".")[0] != torchvision_output}
    replace_output_layer(model, n_outputs, dropout)
    output = output_layer_name(model)
    if in_channels != 3:
        _adapt_first_conv(model, in_channels)
    if state is not None:
        # Entries that fit only now: a head of n_outputs classes, stored under torchvision's
        # name of the output layer (its files and save_weights') or sk_cnn's (files of older
        # save_weights, such as fc.1.weight), and a first convolution saved from a network
        # already adapted to these channels.
        state = _rename_layer(state, torchvision_output, output)
        own = model.state_dict()
        fits = with_versions({k: v for k, v in state.items()
                               if k not in loaded and k in own and own[k].shape == v.shape},
                              state, own)
        model.load_state_dict(fits, strict=False)
        left_out = [k for k in left_out if k not in fits]
        warn_left_out(left_out, len(state), weights, f"{head}.")
    return BackboneNet(model, head, input_size,
                       torchvision_output=None if output == torchvision_output
                       else torchvision_output)


def torchvision_state_dict(net: BackboneNet) -> dict[str, torch.Tensor]:
    """``net``'s weights under the names of the torchvision model it was built from.

    sk_cnn's head may put a Dropout in front of the output layer, which moves the layer:
    ResNet's, RegNet's and ShuffleNet's ``fc`` becomes ``fc.1``, DenseNet's ``classifier``
    ``classifier.1``, ConvNeXt's ``classifier.2`` ``classifier.3`` (with ``dropout > 0``).
    The result has torchvision's names: ``torchvision.models.get_model(backbone,
    num_classes=...)`` loads it with ``strict=True`` (for 3-channel images; other channel
    counts change the first convolution's shape).

    Parameters
    ----------
    net : BackboneNet
        The network, as built by :func:`build_backbone`.

    Returns
    -------
    state : dict of str to torch.Tensor
        The state dict of ``net.model``, its output layer renamed.
    """
    output = output_layer_name(net.model)
    torchvision_output = net.torchvision_output or output
    return _rename_layer(net.model.state_dict(), output, torchvision_output)


def _fit_position_embedding(model: VisionTransformer, state: dict) -> dict:
    """``state`` with its ViT position embedding interpolated to ``model``'s patch grid."""
    key = "encoder.pos_embedding"
    own = model.encoder.pos_embedding
    if key not in state or state[key].shape == own.shape or state[key].ndim != 3:
        return state
    fitted = OrderedDict(state)
    fitted._metadata = getattr(state, "_metadata", None)
    fitted[key] = interpolate_embeddings(model.image_size, model.patch_size, {key: state[key]})[key]
    return fitted


def _rename_layer(state: dict, old: str, new: str) -> dict:
    """``state`` with the entries of layer ``old`` (``old.weight``, ...) renamed to ``new``.

    Its modules' versions (``_metadata``, see :func:`~._weights.with_versions`) follow the layer.
    """
    if old == new:
        return state
    renamed = OrderedDict(
        (f"{new}.{key.rpartition('.')[2]}" if key.rpartition(".")[0] == old else key, value)
        for key, value in state.items())
    metadata = getattr(state, "_metadata", None)
    if metadata is not None:
        renamed._metadata = OrderedDict((new if prefix == old else prefix, version)
                                        for prefix, version in metadata.items() if prefix != new)
    return renamed


def _adapt_first_conv(model: nn.Module, in_channels: int):
    parent, attr, conv = next((parent, attr, child) for parent in model.modules()
                              for attr, child in parent.named_children()
                              if isinstance(child, nn.Conv2d))
    new = nn.Conv2d(in_channels, conv.out_channels, conv.kernel_size, conv.stride,
                    conv.padding, conv.dilation, conv.groups, conv.bias is not None)
    with torch.no_grad():
        weight = conv.weight
        if in_channels == 1:
            new.weight.copy_(weight.sum(dim=1, keepdim=True))
        else:
            repeat = weight.repeat(1, -(-in_channels // weight.shape[1]), 1, 1)
            new.weight.copy_(repeat[:, :in_channels] * (weight.shape[1] / in_channels))
        if conv.bias is not None:
            new.bias.copy_(conv.bias)
    setattr(parent, attr, new)
