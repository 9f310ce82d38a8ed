"""Test-time augmentation: logits averaged over mirrored (and shifted) copies of a batch.

The estimators' ``tta="flip"`` / ``tta="flip_translate"`` uses it in ``predict``,
``predict_proba`` and ``score`` (images only); training is unaffected.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def tta_logits(module: nn.Module, X: torch.Tensor, tta: str | None) -> torch.Tensor:
    """Logits averaged over test-time augmentations of a batch.

    Parameters
    ----------
    module : torch.nn.Module
        The network (in eval mode).
    X : torch.Tensor of shape (N, C, H, W)
        The batch.
    tta : {"flip", "flip_translate"} or None
        None: plain logits. "flip": mean of the image and its mirror image. "flip_translate"
        (airbench's TTA level 2): half the flip average of the image, half the mean of the flip
        averages of the image shifted one pixel up-left and one pixel down-right (reflect
        padding): 6 forward passes.

    Returns
    -------
    logits : torch.Tensor of shape (N, n_outputs)
    """
    def flip_mean(x):
        return (module(x) + module(x.flip(-1))) / 2

    if tta is None:
        return module(X)
    logits = flip_mean(X)
    if tta == "flip":
        return logits
    h, w = X.shape[-2:]
    padded = F.pad(X, (1, 1, 1, 1), mode="reflect")
    shifted = [padded[..., :h, :w], padded[..., 2:h + 2, 2:w + 2]]
    shifted = [flip_mean(x.contiguous(memory_format=torch.channels_last)) for x in shifted]
    return logits / 2 + (shifted[0] + shifted[1]) / 4
