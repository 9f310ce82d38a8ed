"""The fast CIFAR-10 network of ``architecture="airbench"``.

Our own implementation of the network of Keller Jordan's airbench
(https://github.com/KellerJordan/cifar10-airbench, ``airbench94.py``; paper: "94% on CIFAR-10 in
3.29 seconds on a single GPU", arXiv:2404.00498):

- a first 2x2 convolution whose frozen weights *whiten* the image patches: they are the
  eigenvectors of the training patches' (uncentered) covariance, scaled by the inverse square
  root of the eigenvalues, once with each sign (then a GELU keeps both halves of the signal;
  :func:`~sk_cnn.networks._whitening.whitening_weights`);
- blocks of conv -> max-pool -> BatchNorm -> activation -> conv -> BatchNorm -> activation,
  with BatchNorm scales frozen at 1 (only the shifts are trained, at a 64x larger learning
  rate), identity ("dirac") initialized convolutions, a global max pool and a bias-free linear
  layer whose logits are scaled by 1/9.

The rest of the recipe is training's (callbacks that fit the whitening and schedule its bias,
lookahead, the warm-up schedule, Muon) and the estimator's parameters
(:func:`sk_cnn.recipes.airbench_params`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ._plain import ACTIVATIONS
from ._whitening import whitening_weights

#: How much faster the BatchNorm shifts learn than the other weights (airbench94: 64).
NORM_BIAS_LR_FACTOR = 64.0


class _NormBias(nn.BatchNorm2d):
    """BatchNorm whose scale stays 1: only the shift is trained (airbench's ``BatchNorm``)."""

    def __init__(self, num_features: int, momentum: float = 0.6):
        # airbench's momentum 0.6 is PyTorch's 0.4 (weight of the new batch statistics).
        super().__init__(num_features, eps=1e-12, momentum=1 - momentum)
        self.weight.requires_grad_(False)


class _Conv(nn.Conv2d):
    """3x3 "same" convolution without bias, the first filters initialized as identities."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(in_channels, out_channels, kernel_size=3, padding="same", bias=False)

    def reset_parameters(self):
        """PyTorch's initialization, then identity kernels for the first ``in_channels``."""
        super().reset_parameters()
        n = min(self.in_channels, self.out_channels)
        nn.init.dirac_(self.weight.data[:n])


class _ConvGroup(nn.Module):
    """conv -> max-pool 2 -> norm -> act -> conv -> norm -> act."""

    def __init__(self, in_channels: int, out_channels: int, activation: str):
        super().__init__()
        self.conv1 = _Conv(in_channels, out_channels)
        self.pool = nn.MaxPool2d(2)
        self.norm1 = _NormBias(out_channels)
        self.conv2 = _Conv(out_channels, out_channels)
        self.norm2 = _NormBias(out_channels)
        self.act = ACTIVATIONS[activation]()

    def forward(self, x):
        x = self.act(self.norm1(self.pool(self.conv1(x))))
        return self.act(self.norm2(self.conv2(x)))


class AirbenchNet(nn.Module):
    """Patch-whitening convolution, then conv-pool-BatchNorm blocks, global max pool, linear.

    Build it with :func:`build_airbench`; ``CNNClassifier(architecture="airbench")`` does.

    Parameters
    ----------
    in_channels : int
        Channels of the input images.
    n_outputs : int
        Number of logits.
    widths : sequence of int
        Output channels of each block; each block halves the image size.
    activation : str, default="gelu"
        Activation after the whitening layer and every BatchNorm (a key of
        ``ACTIVATIONS``).
    whiten_kernel_size : int, default=2
        Size of the whitening patches.
    output_scale : float, default=1/9
        Factor of the logits (airbench's ``scaling_factor``).

    Attributes
    ----------
    whiten : torch.nn.Conv2d
        The whitening layer; its weight is frozen and set by :meth:`init_whitening`.
    blocks : torch.nn.Sequential
        The conv groups.
    head : torch.nn.Linear
        The bias-free output layer.
    whitening_fitted : torch.Tensor
        Buffer, 1 once :meth:`init_whitening` has run (kept in the state dict, so a resumed or
        warm-started fit does not whiten again).
    """

    def __init__(self, in_channels: int, n_outputs: int, widths: Sequence[int],
                 activation: str = "gelu", whiten_kernel_size: int = 2,
                 output_scale: float = 1 / 9):
        super().__init__()
        width = 2 * in_channels * whiten_kernel_size**2
        self.whiten = nn.Conv2d(in_channels, width, whiten_kernel_size, bias=True)
        self.whiten.weight.requires_grad_(False)
        self.act = ACTIVATIONS[activation]()
        blocks = []
        for out in widths:
            blocks.append(_ConvGroup(width, out, activation))
            width = out
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveMaxPool2d(1)
        self.head = nn.Linear(width, n_outputs, bias=False)
        self.output_scale = output_scale
        self.register_buffer("whitening_fitted", torch.zeros(()))

    def forward(self, x):
        """Logits of a float batch ``(N, C, H, W)``."""
        x = self.blocks(self.act(self.whiten(x)))
        return self.head(self.pool(x).flatten(1)) * self.output_scale

    @torch.no_grad()
    def init_whitening(self, X: torch.Tensor, eps: float = 5e-4) -> None:
        """Set the whitening weights from the patches of the images X.

        Parameters
        ----------
        X : torch.Tensor of shape (N, C, H, W)
            Float training images, as the network sees them (normalized).
        eps : float, default=5e-4
            Added to the eigenvalues before the inverse square root (airbench's value).
        """
        weight = whitening_weights(X, self.whiten.kernel_size[0], eps)
        self.whiten.weight.copy_(weight.to(self.whiten.weight.device))
        self.whitening_fitted.fill_(1)

    def optimizer_param_groups(self, lr: float, weight_decay: float) -> list[dict]:
        """The trainable parameters in two SGD groups: BatchNorm shifts, and the rest.

        The shifts learn ``NORM_BIAS_LR_FACTOR`` times faster with the same decay per step
        (airbench: ``lr * 64`` and ``weight_decay / 64``). ``CNNClassifier`` uses these groups
        with ``optimizer="sgd"`` or ``"muon"`` only; other optimizers get one group.

        Parameters
        ----------
        lr : float
            The estimator's learning rate.
        weight_decay : float
            The estimator's (PyTorch, coupled) weight decay.

        Returns
        -------
        groups : list of dict
            Parameter groups for ``torch.optim.SGD``.
        """
        norm, other = [], []
        for name, param in self.named_parameters():
            if param.requires_grad or name == "whiten.bias":
                (norm if ".norm" in name else other).append(param)
        return [{"params": norm, "lr": lr * NORM_BIAS_LR_FACTOR,
                 "weight_decay": weight_decay / NORM_BIAS_LR_FACTOR},
                {"params": other, "lr": lr, "weight_decay": weight_decay}]


def build_airbench(*, in_channels: int, n_outputs: int, input_size: Sequence[int],
                   conv_filters: Sequence[int], activation: str) -> AirbenchNet:
    """Build :class:`AirbenchNet` for images of ``input_size``, checking that they fit.

    Parameters
    ----------
    in_channels : int
        Channels of the images.
    n_outputs : int
        Number of classes.
    input_size : sequence of int
        ``(H, W)`` of the images.
    conv_filters : sequence of int
        Widths of the blocks (the estimators' ``conv_filters``).
    activation : str
        Activation function (the estimators' ``activation``).

    Returns
    -------
    module : AirbenchNet
        The network, whitening not yet initialized.

    Raises
    ------
    ValueError
        For 1-D signals, or images too small for the whitening layer and the max-pools.
    """
    if len(input_size) != 2:
        raise ValueError(f"architecture='airbench' needs images; X holds 1-D signals of "
                         f"length {tuple(input_size)}.")
    size = [s - 1 for s in input_size]  # the 2x2 whitening convolution has no padding
    for _ in conv_filters:
        size = [s // 2 for s in size]
    if min(size) < 1:
        smallest = 2 ** len(conv_filters) + 1
        raise ValueError(
            f"architecture='airbench' with {len(conv_filters)} blocks needs images of at least "
            f"{smallest}x{smallest} pixels (each block halves them after a 2x2 whitening "
            f"convolution); got {tuple(input_size)}. Use fewer conv_filters or larger images.")
    return AirbenchNet(in_channels, n_outputs, tuple(conv_filters), activation=activation)


