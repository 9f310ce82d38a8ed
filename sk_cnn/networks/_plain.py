"""The plain CNN: convolution blocks, a global pool and a dense head.

The network is Conv -> (BatchNorm) -> Activation -> (Dropout) -> Pool, repeated once per entry of
``conv_filters``, then a global pool, dropout and a dense head. The same builder makes 2-D networks
for images and 1-D networks for signals.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import nn

ACTIVATIONS = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
    "tanh": nn.Tanh,
}

_LAYERS = {
    1: {"conv": nn.Conv1d, "pad": nn.ZeroPad1d, "bn": nn.BatchNorm1d, "drop": nn.Dropout1d,
        "max": nn.MaxPool1d, "avg": nn.AvgPool1d, "gavg": nn.AdaptiveAvgPool1d,
        "gmax": nn.AdaptiveMaxPool1d},
    2: {"conv": nn.Conv2d, "pad": nn.ZeroPad2d, "bn": nn.BatchNorm2d, "drop": nn.Dropout2d,
        "max": nn.MaxPool2d, "avg": nn.AvgPool2d, "gavg": nn.AdaptiveAvgPool2d,
        "gmax": nn.AdaptiveMaxPool2d},
}


def conv_output_size(size: int, kernel_size: int, stride: int, padding) -> int:
    """Length of one spatial axis after a convolution (PyTorch's formula, dilation 1).

    ``padding`` is the zeros added on each side (int), or ``(before, after)``.
    """
    before, after = (padding, padding) if isinstance(padding, int) else padding
    return (size + before + after - kernel_size) // stride + 1


def same_padding(kernel_size: int) -> tuple[int, int]:
    """Zeros before and after each spatial axis for ``padding="same"``.

    ``kernel_size - 1`` zeros in all give ``ceil(size / stride)`` outputs for every size and
    stride (``size`` itself at stride 1). An even kernel's odd total puts the extra zero after
    (bottom/right). At stride 1 this is TensorFlow/Keras' and torch's ``padding="same"``; with
    a stride the output size is Keras' too, but Keras pads only what the last window needs,
    which depends on the size, so its windows may sit further right. A padding that depends
    on the kernel only keeps odd kernels' padding what it always was (``kernel_size // 2`` on
    each side), and the network valid for any input size.
    """
    total = kernel_size - 1
    return total // 2, total - total // 2


def _padding(padding, kernel_size: int) -> tuple[int, int]:
    if padding == "valid":
        return 0, 0
    if padding == "same":
        return same_padding(kernel_size)
    return int(padding), int(padding)


def build_cnn(
    *,
    in_channels: int,
    n_outputs: int,
    input_size: Sequence[int],
    conv_filters: Sequence[int],
    kernel_size: int,
    stride: int,
    padding,
    pooling: str | None,
    activation: str,
    batch_norm: bool,
    global_pool: str,
    dense_units: Sequence[int],
    dropout: float,
    conv_dropout: float,
) -> nn.Sequential:
    """Build the plain CNN as an ``nn.Sequential`` of ``features``, ``global_pool`` and ``head``.

    The arguments after ``input_size`` are the estimators' parameters of the same names; their
    defaults are the estimators'.

    Parameters
    ----------
    in_channels : int
        Channels of the input images (or signals).
    n_outputs : int
        Units of the last dense layer (the number of classes).
    input_size : sequence of int
        Spatial size of one input, ``(H, W)`` for images or ``(L,)`` for signals; it picks 2-D or
        1-D layers and is used to check that the network's downsampling fits the input.
    conv_filters : sequence of int
        Output channels of each convolution block; one block per entry.
    kernel_size : int
        Side of the convolution kernels.
    stride : int
        Stride of the convolutions; at least 2 is used when ``pooling=None``.
    padding : {"same", "valid"} or int
        Convolution padding; "same" pads ``kernel_size - 1`` zeros per axis (the extra one of
        an even kernel at the bottom/right), so each convolution outputs ``ceil(size /
        stride)`` positions; an int pads that many on every side.
    pooling : {"max", "avg"} or None
        2x2 pooling after every block; None downsamples with strided convolutions instead.
    activation : {"relu", "gelu", "leaky_relu", "elu", "tanh"}
        Activation after every convolution and hidden dense layer.
    batch_norm : bool
        Batch normalization after every convolution (then built without bias).
    global_pool : {"avg", "max", "flatten"}
        How the last feature map becomes one vector.
    dense_units : sequence of int
        Hidden dense layers of the head, before the output layer.
    dropout : float
        Dropout before each dense layer of the head, the output layer included.
    conv_dropout : float
        Channel dropout after every convolution block's activation.

    Returns
    -------
    module : torch.nn.Sequential
        The network; it maps a float batch ``(N, C, *input_size)`` to ``(N, n_outputs)`` logits.

    Raises
    ------
    ValueError
        When the input is too small for the convolutions (only possible with
        ``padding="valid"`` or large kernels).
    """
    dims = len(input_size)
    layers = _LAYERS[dims]
    act = ACTIVATIONS[activation]
    before, after = _padding(padding, kernel_size)
    # Without pooling, strided convolutions do the downsampling.
    conv_stride = stride if pooling is not None else max(stride, 2)

    size = list(input_size)
    features = nn.Sequential()
    channels = in_channels
    for i, width in enumerate(conv_filters):
        new_size = [conv_output_size(s, kernel_size, conv_stride, (before, after))
                    for s in size]
        if min(new_size) < 1:
            raise ValueError(
                f"Inputs of spatial size {tuple(input_size)} are too small for this network: "
                f"convolution {i + 1} (kernel_size={kernel_size}, padding={padding!r}, "
                f"stride={conv_stride}) would see a feature map of size {tuple(size)} and output "
                f"{tuple(new_size)}. Use padding='same', a smaller kernel_size, fewer "
                f"conv_filters, or larger images."
            )
        size = new_size
        block = nn.Sequential()
        if before != after:
            # Convolutions pad both sides alike, so uneven padding is a layer of its own. It
            # holds no weights: the state dict's keys are those of symmetric padding.
            block.add_module("pad", layers["pad"]((before, after) * dims))
        block.add_module("conv", layers["conv"](
            channels, width, kernel_size, stride=conv_stride,
            padding=before if before == after else 0, bias=not batch_norm))
        if batch_norm:
            block.add_module("bn", layers["bn"](width))
        block.add_module("act", act())
        if conv_dropout > 0:
            block.add_module("dropout", layers["drop"](conv_dropout))
        if pooling is not None:
            # ceil_mode keeps a 1-pixel feature map at 1 pixel, so small inputs (8x8 digits,
            # short signals) go through every stage instead of failing.
            block.add_module("pool", layers[pooling](2, ceil_mode=True))
            size = [-(-s // 2) for s in size]
        features.add_module(f"block{i + 1}", block)
        channels = width

    if global_pool == "avg":
        pool = nn.Sequential(layers["gavg"](1), nn.Flatten())
        n_features = channels
    elif global_pool == "max":
        pool = nn.Sequential(layers["gmax"](1), nn.Flatten())
        n_features = channels
    else:  # "flatten"
        pool = nn.Flatten()
        n_features = channels * int(torch.tensor(size).prod())

    head = nn.Sequential()
    for j, units in enumerate(dense_units):
        if dropout > 0:
            head.add_module(f"dropout{j + 1}", nn.Dropout(dropout))
        head.add_module(f"dense{j + 1}", nn.Linear(n_features, units))
        head.add_module(f"act{j + 1}", act())
        n_features = units
    if dropout > 0:
        head.add_module("dropout", nn.Dropout(dropout))
    head.add_module("output", nn.Linear(n_features, n_outputs))

    return nn.Sequential(OrderedDict(features=features, global_pool=pool, head=head))
