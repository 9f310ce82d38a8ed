"""The network of an sk_cnn estimator, built from its parameters (skorch's module hook)."""

from __future__ import annotations

from numbers import Integral

import numpy as np
import torch

from .backbones import build_backbone, load_matching, load_weights
from .data import canonical_view
from .fastnet import build_airbench
from .modules import build_cnn


def build_network(net) -> torch.nn.Module:
    """The network of an sk_cnn estimator, for its fitted input shape and outputs.

    A torchvision ``backbone``, the airbench network (``architecture="airbench"``) or the
    lesson's CNN, with ``weights`` loaded where given; image networks in channels_last.

    Parameters
    ----------
    net : CNNClassifier or CNNRegressor
        The estimator, with ``input_shape_`` and ``layout_`` set by fit.

    Returns
    -------
    module : torch.nn.Module
        The network.
    """
    sample = canonical_view(np.empty((1,) + net.input_shape_, np.uint8), net.layout_)
    if net.backbone is not None:
        if sample.ndim != 4:
            raise ValueError(f"backbone={net.backbone!r} needs images; X holds 1-D signals "
                             f"of shape {net.input_shape_}.")
        module = build_backbone(
            net.backbone, n_outputs=net._n_outputs(), in_channels=sample.shape[1],
            dropout=net.dropout, weights=net.weights, image_size=sample.shape[2:],
            input_size=None if net.input_size is None else (
                net.input_size if isinstance(net.input_size, Integral)
                else tuple(net.input_size)))
        module.freeze(net.freeze)
    elif net.architecture == "airbench":
        module = build_airbench(
            in_channels=sample.shape[1], n_outputs=net._n_outputs(),
            input_size=sample.shape[2:], conv_filters=tuple(net.conv_filters),
            activation=net.activation)
        if net.weights is not None:
            load_matching(module, load_weights(net.weights), net.weights)
    else:
        module = build_cnn(
            in_channels=sample.shape[1], n_outputs=net._n_outputs(),
            input_size=sample.shape[2:], conv_filters=tuple(net.conv_filters),
            kernel_size=net.kernel_size, stride=net.stride, padding=net.padding,
            pooling=net.pooling, activation=net.activation, batch_norm=net.batch_norm,
            global_pool=net.global_pool, dense_units=tuple(net.dense_units),
            dropout=net.dropout, conv_dropout=net.conv_dropout)
        if net.weights is not None:
            load_matching(module, load_weights(net.weights), net.weights)
    if sample.ndim == 4:
        module = module.to(memory_format=torch.channels_last)
    return module
