"""The output layer of a network, and what goes into it: the features ``transform`` returns."""

from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import nn


def output_layer(module: nn.Module) -> nn.Linear:
    """The network's output layer: its last registered ``nn.Linear``.

    Every network sk_cnn builds ends in one (the plain CNN's ``head.output``, the airbench
    network's ``head``, a torchvision backbone's new head).

    Parameters
    ----------
    module : torch.nn.Module
        The network.

    Returns
    -------
    layer : torch.nn.Linear
        The output layer; its input is the network's feature vector of a sample.

    Raises
    ------
    ValueError
        When the network has no ``nn.Linear``.
    """
    linears = [layer for layer in module.modules() if isinstance(layer, nn.Linear)]
    if not linears:
        raise ValueError(
            f"The network ({type(module).__name__}) has no nn.Linear output layer, so it has "
            f"no feature vector before it to return. transform needs a network that ends in "
            f"nn.Linear, as every network sk_cnn builds does.")
    return linears[-1]


@contextmanager
def capturing_output_layer_input(module: nn.Module):
    """Collect the input of ``module``'s output layer at every forward pass inside the block.

    Yields a list that receives one float32 CPU tensor ``(batch, features)`` per pass.
    """
    captured: list[torch.Tensor] = []

    def keep(layer, args):
        captured.append(args[0].detach().float().reshape(len(args[0]), -1).cpu())

    handle = output_layer(module).register_forward_pre_hook(keep)
    try:
        yield captured
    finally:
        handle.remove()
