"""The fast CIFAR-10 network (``architecture="airbench"``) and the parts of its training recipe.

Our own implementation of the ideas of Keller Jordan's airbench
(https://github.com/KellerJordan/cifar10-airbench, ``airbench94.py``; paper: "94% on CIFAR-10 in
3.29 seconds on a single GPU", arXiv:2404.00498), adapted to sk_cnn's estimator API:

- a first 2x2 convolution whose frozen weights *whiten* the image patches: they are the
  eigenvectors of the training patches' (uncentered) covariance, scaled by the inverse square
  root of the eigenvalues, once with each sign (then a GELU keeps both halves of the signal);
  its bias is trained only during the first ``WHITEN_BIAS_EPOCHS`` epochs
  (:func:`sk_cnn.whitening.whitening_weights`);
- blocks of conv -> max-pool -> BatchNorm -> activation -> conv -> BatchNorm -> activation,
  with BatchNorm scales frozen at 1 (only the shifts are trained, at a 64x larger learning
  rate), identity ("dirac") initialized convolutions, a global max pool and a bias-free linear
  layer whose logits are scaled by 1/9;
- in the estimator: Nesterov SGD on batches of hundreds of images, label smoothing 0.2, a
  warm-up then linear decay schedule (``lr_schedule="warmup_linear"``), lookahead weight
  averaging (``weight_averaging="lookahead"``, :class:`sk_cnn.callbacks.Lookahead`), flip + 2-pixel
  translate augmentation and flip (+ translate) test-time augmentation
  (``tta="flip_translate"``, :func:`sk_cnn.tta.tta_logits`).

:func:`airbench_params` gathers the estimator parameters of the recipe as one explicit dict.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from skorch.callbacks import Callback
from torch import nn

from .data import to_network_input
from .modules import ACTIVATIONS
from .whitening import whitening_weights

ARCHITECTURES = ("plain", "airbench")

#: Epochs during which the whitening layer's bias is trained (airbench94: 3).
WHITEN_BIAS_EPOCHS = 3
#: How much faster the BatchNorm shifts learn than the other weights (airbench94: 64).
NORM_BIAS_LR_FACTOR = 64.0
#: Training images whose patches give the whitening statistics (airbench94: 5000).
WHITENING_IMAGES = 5000


def airbench_params(max_epochs: int | None = None, device: str = "cpu") -> dict:
    """The estimator parameters of the fast CIFAR-10 recipe, as an explicit dict.

    ``CNNClassifier(**airbench_params())`` is the recipe; every value is an ordinary parameter,
    so ``get_params`` shows exactly what is trained and any value can be changed or grid
    searched. Pair it with ``ImageNormalizer(dtype="float16")`` and
    ``ImageAugmenter(horizontal_flip="alternate", crop_padding=2, padding_mode="reflect")``
    before the classifier.

    The values follow airbench94 (lr 11.5 per 1024 examples of a summed loss, momentum 0.85,
    weight decay 0.0153 per 1024 examples, label smoothing 0.2), converted to PyTorch's SGD
    with a mean loss: ``lr = 11.5 / (1 + 1 / (1 - 0.85)) * batch_size / 1024`` and
    ``weight_decay = 0.0153 / 11.5`` (PyTorch multiplies it by ``lr``). Two
    choices differ from airbench94 to suit a 2-core CPU (measurements in benchmarks/README.md):
    block widths 48/192/192 (airbench94: 64/256/256) and batches of 256 (airbench94: 1024):
    measured side by side on two cores, batches of 512 train 1.24x faster per image than 1024
    and batches of 256 1.25x faster than 512 (at 256 the training step computes about as many
    floating-point operations a second as a large matrix product does on the same cores).
    With other batch sizes scale ``lr`` linearly
    with the batch size and keep ``weight_decay``.

    The convolution filters train with Muon (``optimizer="muon"``, :class:`sk_cnn.optim.Muon`,
    from airbench94_muon), at its default filter learning rate of 0.05; the BatchNorm shifts,
    the whitening bias and the output layer keep the SGD settings above.
    Measured on the full CIFAR-10, 16 epochs on two cores, with the recipe of that day
    (widths 32/128/128, float32; benchmarks/README.md): 0.8994
    (filter lr 0.05) and 0.8985 (0.08) test accuracy with flip + translate TTA, against
    0.8946-0.8951 with SGD for every parameter and 0.8874 with airbench94_muon's 0.24.

    ``mixed_precision="auto"`` runs the forward passes in bfloat16 where the device computes it
    natively (:func:`sk_cnn.precision.has_fast_bfloat16`; CPUs with AVX512_BF16 or AMX, NVIDIA
    Ampere or newer) and in float32 elsewhere. On the team's 2-core AMD EPYC machines
    (AVX512_BF16) the bare training step runs 1.78x faster than in float32; accuracy did not
    suffer (10,000 training images, 16 epochs: 0.8281 against 0.8269 in float32).

    Widths and epochs: with bfloat16 on those machines, 13 epochs of widths 48/192/192 took
    13.5-14.0 minutes of fit time and 24 epochs of 32/128/128 13.1-13.7; the wider network reached
    0.9062, 0.9047 and 0.9051 with flip + translate TTA (seeds 0, 1, 2), the narrower one 0.9030,
    0.9008 and 0.9019. Without native bfloat16 (float32) the recipe's 13 epochs take about 23
    minutes on two such cores (477 images/s measured for this width).

    ``device="cuda"`` gives the settings measured on one GPU (an NVIDIA H100,
    benchmarks/cifar10_gpu.py): airbench94's widths 64/256/256 and batches of 1024 (lr scaled
    linearly, 1.5), the filters' Muon learning rate 0.12 (``optimizer__muon_lr``; 0.05 suits
    batches of 256, airbench94_muon's 0.24 its batches of 2000) and 10 epochs: a whole fit of
    the 50,000 images took 5.5-5.8 s and reached 0.9091-0.9104 with flip + translate TTA (seeds
    0-2; "auto" chose bfloat16 there; a later lease measured 8.3 s for the same accuracies,
    cause not settled: benchmarks/README.md). The CPU settings on that GPU took 20 s (batches of 256
    leave it idle). To train these settings with ``optimizer="sgd"``, leave out
    ``optimizer__muon_lr`` (SGD takes no such option).

    Parameters
    ----------
    max_epochs : int or None, default=None
        Epochs of training; None: 13 for the CPU, 10 for the GPU.
    device : {"cpu", "cuda"}, default="cpu"
        The hardware to train on: the settings measured there, and the estimator's ``device``
        (``device="cuda"``; for "cpu" the estimator's own default, "auto", is kept).

    Returns
    -------
    params : dict
        Keyword arguments of :class:`sk_cnn.CNNClassifier`.

    Examples
    --------
    >>> from sk_cnn import CNNClassifier
    >>> from sk_cnn.fastnet import airbench_params
    >>> clf = CNNClassifier(**airbench_params(max_epochs=10))
    >>> clf.get_params()["architecture"], clf.get_params()["batch_size"]
    ('airbench', 256)
    >>> gpu = airbench_params(device="cuda")
    >>> gpu["batch_size"], gpu["lr"], gpu["optimizer__muon_lr"], gpu["max_epochs"]
    (1024, 1.5, 0.12, 10)
    """
    if device not in ("cpu", "cuda"):
        raise ValueError(f'device must be "cpu" or "cuda", got {device!r}.')
    gpu = device == "cuda"
    momentum, batch_size = 0.85, 1024 if gpu else 256
    kilostep = 1 + 1 / (1 - momentum)  # airbench's "kilostep_scale" divided by 1024
    lr_1024 = 11.5 / kilostep  # 1.5 for batches of 1024
    lr = round(lr_1024 * batch_size / 1024, 6)  # 0.375 for 256
    if max_epochs is None:
        max_epochs = 10 if gpu else 13
    device_params = {"device": "cuda", "optimizer__muon_lr": 0.12} if gpu else {}
    return {
        "architecture": "airbench",
        "conv_filters": (64, 256, 256) if gpu else (48, 192, 192),
        "activation": "gelu",
        "optimizer": "muon",
        "lr": lr,
        "momentum": momentum,
        "nesterov": True,
        "weight_decay": round(0.0153 / kilostep / lr_1024, 8),
        "batch_size": batch_size,
        "max_epochs": max_epochs,
        "lr_schedule": "warmup_linear",
        "weight_averaging": "lookahead",
        "label_smoothing": 0.2,
        "tta": "flip_translate",
        "mixed_precision": "auto",
        "validation_fraction": None,
        **device_params,
    }


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
        ``sk_cnn.modules.ACTIVATIONS``).
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
                   conv_filters: Sequence[int] = (32, 128, 128),
                   activation: str = "gelu") -> AirbenchNet:
    """Build :class:`AirbenchNet` for images of ``input_size``, checking that they fit.

    Parameters
    ----------
    in_channels : int
        Channels of the images.
    n_outputs : int
        Number of classes.
    input_size : sequence of int
        ``(H, W)`` of the images.
    conv_filters : sequence of int, default=(32, 128, 128)
        Widths of the blocks (``CNNClassifier``'s ``conv_filters``).
    activation : str, default="gelu"
        Activation function.

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


class WhiteningInit(Callback):
    """Initialize the whitening layer of an :class:`AirbenchNet` when training begins.

    The patches come from up to ``n_images`` training images drawn with torch's random
    generator, which ``CNNClassifier.fit`` seeds from ``random_state``. A network whose
    whitening is already fitted (``warm_start``, ``partial_fit``, a resumed fit) is left alone.
    Validation images held out by ``validation_fraction`` may be among the drawn images; the
    whitening uses no labels.

    Parameters
    ----------
    n_images : int, default=5000
        How many training images to use.
    """

    def __init__(self, n_images: int = WHITENING_IMAGES):
        self.n_images = n_images

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        """Whiten from a random subset of X unless already done."""
        module = net.module_
        if not isinstance(module, AirbenchNet) or bool(module.whitening_fitted):
            return
        index = torch.randperm(len(X))[:self.n_images].sort().values
        module.init_whitening(to_network_input(X[index], net.device))


class WhiteningBiasSchedule(Callback):
    """Train the whitening layer's bias only during the first ``epochs`` epochs (airbench).

    Parameters
    ----------
    epochs : int, default=3
        Epochs with a trainable whitening bias.
    """

    def __init__(self, epochs: int = WHITEN_BIAS_EPOCHS):
        self.epochs = epochs

    def on_epoch_begin(self, net, **kwargs):
        """Freeze or unfreeze the bias for this epoch (1-based ``len(net.history)``)."""
        module = net.module_
        if isinstance(module, AirbenchNet):
            module.whiten.bias.requires_grad_(len(net.history) <= self.epochs)


def recipe_callbacks(net) -> list:
    """The named callbacks that ``architecture`` and ``weight_averaging`` of ``net`` add.

    Called when skorch builds the default callbacks (also from ``get_params`` before
    validation), so any parameter value is tolerated.
    """
    from .callbacks import Lookahead

    def chosen(name, value):  # False for any non-string value, arrays included
        setting = getattr(net, name, None)
        return isinstance(setting, str) and setting == value

    callbacks = []
    if chosen("architecture", "airbench") and getattr(net, "module", None) is None:
        callbacks += [("whitening_init", WhiteningInit()),
                      ("whitening_bias", WhiteningBiasSchedule())]
    if chosen("weight_averaging", "lookahead"):
        callbacks.append(("lookahead", Lookahead()))
    return callbacks
