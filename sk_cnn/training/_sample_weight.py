"""Sample weights: checked once per fit, then multiplying each sample's loss in every batch."""

from __future__ import annotations

import copy

import numpy as np
import torch
from sklearn.utils.validation import _check_sample_weight


def check_sample_weight(sample_weight, X) -> torch.Tensor | None:
    """The weights of a fit as float32, rescaled to mean 1; None when they are all equal.

    Only the weights' ratios matter: a constant factor would only rescale the learning rate
    (SGD) or nothing (Adam), so weights of any scale (AdaBoost's sum to 1) train alike, and
    equal weights train exactly as no weights.

    Parameters
    ----------
    sample_weight : array-like of shape (n_samples,) or None
        Non-negative weights, not all zero.
    X : array-like
        The training samples (for their number).

    Returns
    -------
    weights : torch.Tensor of shape (n_samples,) or None
        The weights with mean 1, or None for no weights or equal ones.
    """
    if sample_weight is None:
        return None
    expected = (f" Give sample_weight one finite weight >= 0 per sample of X ({len(X)}), "
                f"not all zero.")
    try:
        weights = _check_sample_weight(sample_weight, X, dtype=np.float64,
                                       ensure_non_negative=True)
    except ValueError as exc:
        raise ValueError(f"{exc}{expected}") from None
    if not np.all(np.isfinite(weights)):
        raise ValueError(f"sample_weight holds NaN or infinite values.{expected}")
    total = weights.sum()
    if total <= 0:
        raise ValueError(f"sample_weight is zero for every sample, so nothing would be "
                         f"learned.{expected}")
    if np.all(weights == weights[0]):
        return None
    return torch.from_numpy((weights * (len(weights) / total)).astype(np.float32))


def weighted_loss(criterion: torch.nn.Module, y_pred, y_true, weights) -> torch.Tensor:
    """``criterion``'s loss of a batch with each sample's loss multiplied by its weight.

    The normalization is the criterion's own mean: over the samples, or over their class
    weights for a cross-entropy with ``weight`` (class_weight), so weights of 1 give the
    unweighted loss; a sample of weight 0 adds nothing to the loss or its gradient.

    Parameters
    ----------
    criterion : torch.nn.Module
        A torch loss with a ``reduction`` attribute (CrossEntropyLoss, MSELoss, ...).
    y_pred, y_true : torch.Tensor
        The network's output and the targets of the batch.
    weights : torch.Tensor of shape (batch,)
        The samples' weights.

    Returns
    -------
    loss : torch.Tensor
        A scalar.
    """
    per_sample = unreduced(criterion)(y_pred, y_true)
    per_sample = per_sample.reshape(len(per_sample), -1).mean(dim=1)
    class_weight = getattr(criterion, "weight", None)
    if isinstance(criterion, torch.nn.CrossEntropyLoss) and class_weight is not None and (
            y_true.ndim == 1):
        normalizer = class_weight[y_true].sum()
    else:
        normalizer = per_sample.new_tensor(float(len(per_sample)))
    return (per_sample * weights.to(per_sample.dtype)).sum() / normalizer


def unreduced(criterion: torch.nn.Module) -> torch.nn.Module:
    """A shallow copy of ``criterion`` that returns one loss per sample (``reduction="none"``)."""
    if getattr(criterion, "reduction", None) not in ("mean", "sum", "none"):
        raise TypeError(
            f"sample_weight needs a criterion that can return one loss per sample (a torch loss "
            f"with reduction='none'); {type(criterion).__name__} has no `reduction`. Use a torch "
            f"loss, or weigh the samples inside your criterion.")
    per_sample = copy.copy(criterion)  # shares the parameters and buffers (class weights)
    per_sample.reduction = "none"
    return per_sample
