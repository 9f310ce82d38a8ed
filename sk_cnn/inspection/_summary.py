"""The summary of a fitted (or configured) estimator's network, or of a Pipeline's."""

from __future__ import annotations

from sklearn.base import is_classifier
from sklearn.pipeline import Pipeline

from ..estimators import CNNClassifier, CNNRegressor
from ..networks._summary import ModelSummary


def model_summary(estimator, input_shape: tuple[int, ...] | None = None, *,
                  n_classes: int | None = None, n_outputs: int = 1) -> ModelSummary:
    """Keras-like summary of a CNNClassifier's or CNNRegressor's network (or a Pipeline's).

    Parameters
    ----------
    estimator : CNNClassifier, CNNRegressor or Pipeline ending in one
        Fitted, or not fitted when ``input_shape`` is given.
    input_shape : tuple of int or None, default=None
        Shape of one sample as the classifier receives it, e.g. ``(32, 32, 3)``. A fitted
        classifier uses its ``input_shape_``; giving another shape raises.
    n_classes : int or None, default=None
        Units of the output layer before fit; None takes ``len(classes)`` when the classifier
        was given ``classes``. Ignored once fitted, and for regressors.
    n_outputs : int, default=1
        Units of a regressor's output layer before fit. Ignored once fitted, and for
        classifiers.

    Returns
    -------
    summary : ModelSummary
        Printing it shows the table.

    Examples
    --------
    >>> from sk_cnn import CNNClassifier
    >>> from sk_cnn.inspection import model_summary
    >>> summary = model_summary(CNNClassifier(conv_filters=(8,)), (28, 28), n_classes=10)
    >>> summary.total_params
    178
    """
    clf = estimator.steps[-1][1] if isinstance(estimator, Pipeline) else estimator
    if not isinstance(clf, (CNNClassifier, CNNRegressor)):
        raise TypeError(f"model_summary needs a CNNClassifier or CNNRegressor (or a Pipeline "
                        f"ending in one), got "
                        f"{type(clf).__name__}. For any torch module use summarize_module.")
    if is_classifier(clf):
        return clf.summary(input_shape, n_classes=n_classes)
    return clf.summary(input_shape, n_outputs=n_outputs)
