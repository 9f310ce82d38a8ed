"""The held-out validation part of the training data (``validation_fraction``)."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.model_selection import train_test_split
from torch.utils.data import Subset


def validation_split(dataset, y, fraction, seed, classifier: bool):
    """Split ``fraction`` of ``dataset`` off for validation: ``(train, valid)`` subsets, or
    ``(dataset, None)`` when no split is asked for or none is possible.

    Parameters
    ----------
    dataset : torch.utils.data.Dataset
        The training data.
    y : array-like or torch.Tensor
        Its (encoded) targets.
    fraction : float or None
        Share held out (rounded up); a regressor keeps at least 2 samples on each side (R^2
        needs two), or does not split.
    seed : int or None
        Random state of the split.
    classifier : bool
        Stratify by ``y`` when every class has 2 samples and the split holds one per class
        (single-label targets).

    Returns
    -------
    train, valid : torch.utils.data.Subset, torch.utils.data.Subset or None
        The two parts, each in the original order.
    """
    if not fraction:
        return dataset, None
    indices = np.arange(len(dataset))
    n_valid = int(np.ceil(fraction * len(indices)))
    stratify = None
    if classifier:
        y_np = torch.as_tensor(y).cpu().numpy()
        counts = np.bincount(y_np) if y_np.ndim == 1 else None  # multi-label: no strata
        if counts is not None and counts[counts > 0].min() >= 2 and n_valid >= len(counts):
            stratify = y_np
    else:
        n_valid = max(n_valid, 2)
    if len(indices) - n_valid < (1 if classifier else 2):
        return dataset, None
    train, valid = train_test_split(indices, test_size=n_valid, stratify=stratify,
                                    random_state=seed)
    return Subset(dataset, np.sort(train)), Subset(dataset, np.sort(valid))

