"""CNNClassifier: a skorch NeuralNetClassifier that builds and trains a CNN from image arrays."""

from __future__ import annotations

from numbers import Real

import numpy as np
import torch
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import column_or_1d
from skorch import NeuralNetClassifier
from skorch.callbacks import EpochScoring

from .callbacks import encoded_accuracy
from .parameters import CNN_PARAMETER_CONSTRAINTS, shared_parameters
from .training import CNNTrainingMixin


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


def _encode(y, classes):
    """Positions of the labels y in classes, refusing labels outside classes."""
    position = {label: i for i, label in enumerate(classes.tolist())}
    unknown = unknown_labels(y, classes)
    if unknown:
        raise ValueError(f"y has labels {unknown[:10]} that are not among the classes "
                         f"{classes.tolist()[:10]}.")
    return np.fromiter((position[label] for label in y.tolist()), dtype=np.int64, count=len(y))


def _check_classes(classes, name):
    """``classes`` as a 1-D array of distinct labels."""
    classes = np.asarray(classes)
    if classes.ndim != 1:
        raise ValueError(f"{name} must be a 1-D list of labels, got shape {classes.shape}.")
    labels = classes.tolist()
    if len(set(labels)) != len(labels):
        repeated = sorted({label for label in labels if labels.count(label) > 1}, key=str)
        raise ValueError(f"{name} repeats the labels {repeated}; give each class once.")
    return classes


@shared_parameters
class CNNClassifier(CNNTrainingMixin, NeuralNetClassifier):
    """Convolutional neural network classifier for image arrays, scikit-learn style.

    A :class:`skorch.NeuralNetClassifier` that infers the input layout, channels, image size
    and classes in ``fit``, builds the lesson's CNN (Conv -> activation -> pool, repeated; then
    global pooling, dropout and a dense softmax layer) and trains it on batches sliced from the
    in-memory images (kept uint8 until each batch is made, ``channels_last``). Every skorch
    parameter and prefix (``optimizer__``, ``iterator_train__``, ``callbacks``, ...) still works.

    Not to be confused with sktime's ``CNNClassifier`` (time series).

    Parameters
    ----------
    module : torch.nn.Module class or instance, or None, default=None
        None builds sk_cnn's CNN from the architecture parameters below; a module is used as in
        skorch (configure it with ``module__`` parameters) and must output class logits.
    {shared_parameters}
    criterion : torch loss class, default=torch.nn.CrossEntropyLoss
        The loss; it receives the network's logits.
    class_weight : dict, "balanced" or None, default=None
        Weights of the classes in the loss, as in scikit-learn. "balanced" weighs each class
        of y by ``n_samples / (n_classes_in_y * count)``, from the y of ``fit`` (or of the
        first ``partial_fit`` call); classes of ``classes`` absent from that y get weight 1.
    label_smoothing : float in [0, 1), default=0.0
        Label smoothing of the cross-entropy loss.
    classes : array-like of shape (n_classes,) or None, default=None
        The class labels and their order (the columns of ``predict_proba``); every label of
        y must be among them. None learns them from y in ``fit``, sorted.
    **kwargs : dict
        Any other skorch parameter (``callbacks``, ``warm_start``, ``optimizer__...``, ...).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels, sorted unless ``classes`` (of the constructor or of the first
        ``partial_fit`` call) fixes them and their order.
    {shared_attributes}
    history : skorch.History
        Per-epoch ``train_loss``, ``train_acc`` (running, on augmented batches),
        ``valid_loss``, ``valid_acc`` and ``dur``.

    See Also
    --------
    ImageReshaper, ImageNormalizer, ImageAugmenter : the transformers to put before it.

    Notes
    -----
    Input layouts: ``(N, H, W)`` grayscale, ``(N, H, W, C)`` or ``(N, C, H, W)`` images, uint8
    (scaled to [0, 1]) or float. A 2-D ``(N, F)`` array is read as N one-dimensional signals of
    length F (one channel) and trained with Conv1d layers; turn flat rows of pixels into images
    with :class:`ImageReshaper`.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sk_cnn import CNNClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = CNNClassifier(max_epochs=2, verbose=0, random_state=0)
    >>> clf.fit(X.reshape(-1, 8, 8) / 16, y).predict(X[:3].reshape(-1, 8, 8) / 16).shape
    (3,)
    """

    _parameter_constraints = {
        **CNN_PARAMETER_CONSTRAINTS,
        "class_weight": [StrOptions({"balanced"}), dict, None],
        "label_smoothing": [Interval(Real, 0, 1, closed="left")],
    }

    def __init__(
        self,
        module=None,
        *,
        criterion=torch.nn.CrossEntropyLoss,
        class_weight=None,
        label_smoothing=0.0,
        **kwargs,
    ):
        super().__init__(module, criterion=criterion, **kwargs)
        self.class_weight = class_weight
        self.label_smoothing = label_smoothing

    # ------------------------------------------------------------------ fit
    def partial_fit(self, X, y, classes=None, **fit_params):
        """Train for ``max_epochs`` more epochs, keeping the weights (fit first when unfitted).

        Parameters
        ----------
        X : array-like
            Images of the shape seen in the first fit.
        y : array-like of shape (n_samples,)
            Labels among ``classes_``.
        classes : array-like of shape (n_classes,) or None, default=None
            All the labels the calls will see, as in scikit-learn's incremental learners:
            needed in the first call when its ``y`` lacks some classes (like the constructor's
            ``classes``); a later call's ``classes`` must equal ``classes_``.
        **fit_params : dict
            Passed to the module's ``forward``.

        Returns
        -------
        self : CNNClassifier
            The classifier.
        """
        if classes is None:
            return self._partial_fit(X, y, **fit_params)
        classes = _check_classes(classes, "classes")
        fixed = self.classes_ if self.__sklearn_is_fitted__() else self.classes
        if fixed is not None and not np.array_equal(classes, np.asarray(fixed)):
            raise ValueError(
                f"partial_fit got classes={classes.tolist()}, but the classifier's classes are "
                f"{np.asarray(fixed).tolist()}. Pass the same classes in every call (or none).")
        self._first_call_classes = classes
        try:
            return self._partial_fit(X, y, **fit_params)
        finally:
            del self._first_call_classes

    def _fit_targets(self, y):
        try:
            unique = np.unique(y)
        except TypeError:  # unorderable, e.g. str mixed with int or None
            raise TypeError(
                f"The labels in y mix types that cannot be sorted (found "
                f"{sorted({type(label).__name__ for label in y.tolist()})}). Give labels of "
                f"one type, e.g. y.astype(str).") from None
        check_classification_targets(y)
        classes = getattr(self, "_first_call_classes", None)
        if classes is None and self.classes is not None:
            classes = _check_classes(self.classes, "CNNClassifier(classes=...)")
        if classes is None:
            classes = unique
        y_encoded = _encode(y, classes)
        if len(classes) < 2:
            raise ValueError(
                f"{type(self).__name__} needs samples of at least 2 classes in y; y has one class "
                f"({classes[0]!r}).")
        self.classes_inferred_ = classes
        self.class_weight_ = _class_weight(self.class_weight, classes, y_encoded)
        return torch.from_numpy(y_encoded)

    def _encode_targets(self, y):
        return torch.from_numpy(_encode(column_or_1d(y, warn=True), self.classes_))

    def _n_outputs(self):
        return len(self.classes_)

    def initialize_criterion(self):
        """Cross-entropy with ``label_smoothing`` and ``class_weight`` (or skorch's criterion)."""
        kwargs = self.get_params_for("criterion")
        if self.criterion is torch.nn.CrossEntropyLoss:
            kwargs.setdefault("label_smoothing", float(self.label_smoothing))
            if getattr(self, "class_weight_", None) is not None:
                kwargs.setdefault("weight", torch.as_tensor(self.class_weight_,
                                                            dtype=torch.float32))
        self.criterion_ = self.initialized_instance(self.criterion, kwargs)
        return self

    def _scoring_callbacks(self):
        return [
            ("train_acc", EpochScoring(encoded_accuracy, name="train_acc", on_train=True,
                                       lower_is_better=False)),
            ("valid_acc", EpochScoring(encoded_accuracy, name="valid_acc",
                                       lower_is_better=False)),
        ]

    # ------------------------------------------------------------------ predict
    def predict_proba(self, X):
        """Class probabilities of X, never augmented.

        Parameters
        ----------
        X : array-like
            Images of the shape seen in fit.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Rows sum to 1; columns follow ``classes_``.
        """
        return super().predict_proba(self._validate_predict_data(X))

    def predict(self, X):
        """Predicted class labels of X.

        Parameters
        ----------
        X : array-like
            Images of the shape seen in fit.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            Labels from ``classes_``.
        """
        proba = self.predict_proba(X)
        return self.classes_[proba.argmax(axis=1)]

    def summary(self, input_shape: tuple[int, ...] | None = None, *,
                n_classes: int | None = None):
        """Keras-like table of the network: layers, output shapes, parameters, trainable.

        Parameters
        ----------
        input_shape : tuple of int or None, default=None
            Shape of one sample as given to ``fit``, e.g. ``(32, 32, 3)``. Needed before fit;
            once fitted the summary is at ``input_shape_``.
        n_classes : int or None, default=None
            Units of the output layer before fit (None: ``len(classes)`` if given).

        Returns
        -------
        summary : sk_cnn.summary.ModelSummary
            ``print(clf.summary())`` shows the table; ``total_params``, ``trainable_params``
            and ``layers`` hold the numbers.
        """
        from .summary import model_summary

        return model_summary(self, input_shape, n_classes=n_classes)


def _class_weight(class_weight, classes, y_encoded):
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
