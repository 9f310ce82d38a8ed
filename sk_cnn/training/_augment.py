"""Batched, seeded augmentation of training batches, as an :class:`AugmentationSpec` says.

Every operation works on a whole float batch ``(N, C, H, W)`` (or ``(N, C, L)`` signals) with
per-sample random parameters, using tensor operations only: torchvision's transforms draw one
set of random parameters per call, which would give every image of a batch the same crop.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..preprocessing import AugmentationSpec


def check_spec_fits(spec: AugmentationSpec, shape: tuple) -> None:
    """Refuse a spec the data of ``shape`` (canonical ``(N, C, H, W)`` or ``(N, C, L)``)
    cannot take: image-only augmentations on signals, reflect padding as large as the data."""
    if len(shape) == 3 and (spec.vertical_flip or spec.rotation):
        raise ValueError("vertical_flip and rotation need images, not 1-D signals.")
    if spec.padding_mode == "reflect" and spec.crop_padding >= min(shape[2:]):
        raise ValueError(
            f"ImageAugmenter(padding_mode='reflect') needs crop_padding smaller than the "
            f"images (or signals), whose size is {tuple(shape[2:])}; got crop_padding="
            f"{spec.crop_padding}. Use a smaller crop_padding or padding_mode='constant'.")


def _draw_device(X: torch.Tensor, generator) -> torch.device:
    """Where random parameters are drawn: on the generator's device, else on the batch's
    (so a batch on a GPU needs no transfer, and no synchronization, per draw)."""
    return X.device if generator is None else generator.device


def _uniform(X, low, high, generator):
    u = torch.rand(len(X), generator=generator, device=_draw_device(X, generator))
    return (u * (high - low) + low).to(X.device)


def flip_samples(X: torch.Tensor, flip: torch.Tensor, dim: int) -> torch.Tensor:
    """Flip along ``dim`` the samples where the bool vector ``flip`` is True."""
    shape = (len(X),) + (1,) * (X.ndim - 1)
    return torch.where(flip.to(X.device).view(shape), X.flip(dim), X)


def random_flip(X: torch.Tensor, dim: int, generator) -> torch.Tensor:
    """Flip each sample along ``dim`` with probability 1/2."""
    draws = torch.rand(len(X), generator=generator, device=_draw_device(X, generator))
    return flip_samples(X, draws < 0.5, dim)


def random_translate(X: torch.Tensor, padding: int, generator,
                     mode: str = "constant") -> torch.Tensor:
    """Random crop after padding: shift each sample by up to ``padding`` pixels per axis.

    Equivalent to torchvision's ``RandomCrop(size, padding=padding, padding_mode=mode)`` drawn
    per sample, done as one pad and one gather for the whole batch. ``mode`` is "constant"
    (zeros) or "reflect" (mirror the border without repeating the edge pixel).
    """
    n, spatial = len(X), X.shape[2:]
    padded = F.pad(X, (padding, padding) * len(spatial), mode=mode)
    index = [torch.arange(n, device=X.device).view((n,) + (1,) * (X.ndim - 1)),
             torch.arange(X.shape[1], device=X.device).view((1, -1) + (1,) * len(spatial))]
    for axis, size in enumerate(spatial):
        offset = torch.randint(0, 2 * padding + 1, (n,), generator=generator,
                               device=_draw_device(X, generator)).to(X.device)
        positions = offset[:, None] + torch.arange(size, device=X.device)
        view = [n, 1] + [1] * len(spatial)
        view[2 + axis] = size
        index.append(positions.view(view))
    return padded[tuple(index)]


def random_rotate(X: torch.Tensor, degrees: float, generator) -> torch.Tensor:
    """Rotate each image by an angle drawn from [-degrees, degrees] (bilinear, zero fill)."""
    angle = _uniform(X, -degrees, degrees, generator) * (math.pi / 180)
    cos, sin, zero = angle.cos(), angle.sin(), torch.zeros_like(angle)
    # affine_grid works in coordinates normalized to [-1, 1] along each axis: for images that
    # are not square, the aspect ratio keeps the rotation rigid in pixels.
    aspect = X.shape[-2] / X.shape[-1]
    theta = torch.stack([torch.stack([cos, -sin * aspect, zero], 1),
                         torch.stack([sin / aspect, cos, zero], 1)], 1)
    grid = F.affine_grid(theta.to(X.dtype), list(X.shape), align_corners=False)
    return F.grid_sample(X, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def random_brightness(X: torch.Tensor, amount: float, generator) -> torch.Tensor:
    """Add to each image an offset drawn from [-amount, amount] (in the data's own units)."""
    shape = (len(X),) + (1,) * (X.ndim - 1)
    return X + _uniform(X, -amount, amount, generator).view(shape).to(X.dtype)


def random_contrast(X: torch.Tensor, amount: float, generator) -> torch.Tensor:
    """Scale each image's deviation from its own mean by a factor in [1-amount, 1+amount]."""
    shape = (len(X),) + (1,) * (X.ndim - 1)
    factor = _uniform(X, 1 - amount, 1 + amount, generator).view(shape)
    mean = X.mean(dim=tuple(range(1, X.ndim)), keepdim=True)
    return mean + factor.to(X.dtype) * (X - mean)


def random_scaling(X: torch.Tensor, amount: float, generator) -> torch.Tensor:
    """Multiply each sample by a factor drawn from [1 - amount, 1 + amount]."""
    shape = (len(X),) + (1,) * (X.ndim - 1)
    return X * _uniform(X, 1 - amount, 1 + amount, generator).view(shape).to(X.dtype)


def gaussian_noise(X: torch.Tensor, std: float, generator) -> torch.Tensor:
    """Add independent Gaussian noise of standard deviation ``std`` to every value."""
    noise = torch.randn(X.shape, generator=generator, dtype=X.dtype,
                        device=_draw_device(X, generator))
    return X + std * noise.to(X.device)


def alternating_flip_mask(first_epoch_mask: torch.Tensor, indices: torch.Tensor,
                          epoch: int) -> torch.Tensor:
    """Which samples of a batch to flip under alternating flip (airbench's derandomized flip).

    Each training sample is flipped at random in the first epoch (``first_epoch_mask``, one
    bool per sample of the training set) and in the opposite way in every following epoch,
    so every image is seen both ways in any two consecutive epochs.

    Parameters
    ----------
    first_epoch_mask : torch.Tensor of bool, shape (n_samples,)
        Flips of the first epoch.
    indices : torch.Tensor of int
        Positions of the batch's samples in the training set.
    epoch : int
        The epoch, counting from 1.

    Returns
    -------
    flip : torch.Tensor of bool, shape (len(indices),)
    """
    return first_epoch_mask[indices] ^ (epoch % 2 == 0)


def augment_batch(X: torch.Tensor, spec: AugmentationSpec, generator=None,
                  flip: torch.Tensor | None = None) -> torch.Tensor:
    """Apply ``spec`` to a float batch with fresh per-sample random parameters.

    Parameters
    ----------
    X : torch.Tensor of shape (N, C, H, W) or (N, C, L)
        A float batch, on any device; it is not modified.
    spec : AugmentationSpec
        What to apply. For signals (3-D batches) ``horizontal_flip`` reverses time and
        ``crop_padding`` shifts in time; vertical flips and rotations need images.
    generator : torch.Generator or None, default=None
        Generator that draws the random parameters (for reproducible training), on the CPU
        or on the batch's device; None draws from torch's global generator of the batch's
        device.
    flip : torch.Tensor of bool or None, default=None
        Which samples to flip left-right when ``spec.horizontal_flip == "alternate"`` (see
        :func:`alternating_flip_mask`); required then, ignored otherwise.

    Returns
    -------
    augmented : torch.Tensor
        A new tensor of the same shape, dtype and device; images come back ``channels_last``,
        the memory format the network is trained in.
    """
    if spec.horizontal_flip == "alternate":
        if flip is None:
            raise ValueError('horizontal_flip="alternate" needs the per-sample flip mask.')
        X = flip_samples(X, flip, -1)
    elif spec.horizontal_flip:
        X = random_flip(X, -1, generator)
    if spec.vertical_flip:
        X = random_flip(X, -2, generator)
    if spec.crop_padding:
        X = random_translate(X, spec.crop_padding, generator, spec.padding_mode)
    if spec.rotation:
        X = random_rotate(X, spec.rotation, generator)
    if spec.brightness:
        X = random_brightness(X, spec.brightness, generator)
    if spec.contrast:
        X = random_contrast(X, spec.contrast, generator)
    if spec.scaling:
        X = random_scaling(X, spec.scaling, generator)
    if spec.noise:
        X = gaussian_noise(X, spec.noise, generator)
    if X.ndim == 4:
        X = X.contiguous(memory_format=torch.channels_last)
    return X
