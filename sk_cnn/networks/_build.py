"""The network of an sk_cnn estimator: a torchvision backbone, the airbench network or the
plain CNN, built from the estimator's network parameters."""

from __future__ import annotations

import os
from collections.abc import Sequence
from numbers import Integral

import torch
from torch import nn

from ._airbench import build_airbench
from ._backbones import build_backbone
from ._plain import build_cnn
from ._weights import load_matching, load_weights

#: The values of ``architecture``: the network built when there is no ``module`` or ``backbone``.
ARCHITECTURES = ("plain", "airbench")


def build_network(
    sample_shape: Sequence[int],
    n_outputs: int,
    *,
    architecture: str,
    backbone: str | None,
    weights: str | os.PathLike | None,
    freeze: str | int | None,
    input_size: int | Sequence[int] | None,
    conv_filters: Sequence[int],
    kernel_size: int,
    stride: int,
    padding: str | int,
    pooling: str | None,
    activation: str,
    batch_norm: bool,
    global_pool: str,
    dense_units: Sequence[int],
    dropout: float,
    conv_dropout: float,
) -> nn.Module:
    """Build the network for samples of ``sample_shape`` with ``n_outputs`` outputs.

    The keyword arguments are the estimators' parameters of the same names (see
    :class:`sk_cnn.CNNClassifier`): a torchvision ``backbone`` (which reads ``weights``,
    ``freeze``, ``input_size`` and ``dropout``), else the ``architecture``'s network with
    ``weights`` loaded where their names and shapes fit. Image networks are returned in
    ``channels_last``, the memory format they train fastest in on CPUs.

    Parameters
    ----------
    sample_shape : sequence of int
        Shape of one sample, channels first: ``(C, H, W)`` for images, ``(C, L)`` for signals.
    n_outputs : int
        Units of the output layer (classes, or regression targets).
    architecture, backbone, weights, freeze, input_size, conv_filters, kernel_size, stride, \
padding, pooling, activation, batch_norm, global_pool, dense_units, dropout, conv_dropout
        The estimator's parameters.

    Returns
    -------
    module : torch.nn.Module
        The network: a float batch ``(N, *sample_shape)`` in, ``(N, n_outputs)`` out.
    """
    in_channels, spatial = int(sample_shape[0]), tuple(int(s) for s in sample_shape[1:])
    if backbone is not None:
        if len(spatial) != 2:
            raise ValueError(f"backbone={backbone!r} needs images; X holds 1-D signals of "
                             f"length {spatial[0]}.")
        module = build_backbone(
            backbone, n_outputs=n_outputs, in_channels=in_channels, dropout=dropout,
            weights=weights, image_size=spatial,
            input_size=None if input_size is None else (
                input_size if isinstance(input_size, Integral) else tuple(input_size)))
        module.freeze(freeze)
    elif architecture == "airbench":
        module = build_airbench(in_channels=in_channels, n_outputs=n_outputs,
                                input_size=spatial, conv_filters=tuple(conv_filters),
                                activation=activation)
        if weights is not None:
            load_matching(module, load_weights(weights), weights)
    else:
        module = build_cnn(
            in_channels=in_channels, n_outputs=n_outputs, input_size=spatial,
            conv_filters=tuple(conv_filters), kernel_size=kernel_size, stride=stride,
            padding=padding, pooling=pooling, activation=activation, batch_norm=batch_norm,
            global_pool=global_pool, dense_units=tuple(dense_units), dropout=dropout,
            conv_dropout=conv_dropout)
        if weights is not None:
            load_matching(module, load_weights(weights), weights)
    if len(spatial) == 2:
        module = module.to(memory_format=torch.channels_last)
    return module
