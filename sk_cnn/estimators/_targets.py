"""Targets: class labels encoded as positions and their weights, regression targets as columns."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.utils.class_weight import compute_class_weight

#: The names ``CNNRegressor(criterion=...)`` takes, and their torch losses.
REGRESSION_LOSSES = {"mse": torch.nn.MSELoss, "huber": torch.nn.HuberLoss, "l1": torch.nn.L1Loss}


def unknown_labels(y, classes) -> list:
    """The distinct labels of ``y`` that are not among ``classes``, sorted (as text).

    Parameters
    ----------
    y : array-like
        Labels.
    classes : array-like
        The known labels.

    Returns
    -------
    unknown : list
        The labels of ``y`` outside ``classes``.
    """
    known = set(np.asarray(classes).tolist())
    return sorted({label for label in np.asarray(y).tolist() if label not in known}, key=str)


def encode_labels(y, classes):
    """Positions of the labels y in classes, refusing labels outside classes."""
    position = {label: i for i, label in enumerate(classes.tolist())}
    unknown = unknown_labels(y, classes)
    if unknown:
        raise ValueError(f"y has labels {unknown[:10]} that are not among the classes "
                         f"{classes.tolist()[:10]}.")
    return np.fromiter((position[label] for label in y.tolist()), dtype=np.int64, count=len(y))


def check_classes(classes, name):
    """``classes`` as a 1-D array of distinct labels."""
    classes = np.asarray(classes)
    if classes.ndim != 1:
        raise ValueError(f"{name} must be a 1-D list of labels, got shape {classes.shape}.")
    labels = classes.tolist()
    if len(set(labels)) != len(labels):
        repeated = sorted({label for label in labels if labels.count(label) > 1}, key=str)
        raise ValueError(f"{name} repeats the labels {repeated}; give each class once.")
    return classes


def class_weights(class_weight, classes, y_encoded):
    """Weights of ``classes`` (None: unweighted). "balanced" weighs the classes y holds as
    scikit-learn does and gives the others 1 (scikit-learn refuses classes absent from y)."""
    if class_weight is None:
        return None
    if not (isinstance(class_weight, str) and class_weight == "balanced"):
        return compute_class_weight(class_weight, classes=classes, y=classes[y_encoded])
    present = np.unique(y_encoded)
    weights = np.ones(len(classes))
    weights[present] = compute_class_weight("balanced", classes=present, y=y_encoded)
    return weights



def target_columns(y):
    """y as a float64 array of shape (n_samples, n_outputs)."""
    y = np.asarray(y, dtype=np.float64)
    if y.ndim not in (1, 2):
        raise ValueError(f"y must be 1-D (one target) or 2-D (one column per target); got "
                         f"shape {y.shape}.")
    return y.reshape(len(y), -1)

