"""CNNClassifier: a skorch NeuralNetClassifier that builds and trains a CNN from image arrays."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from numbers import Integral

import numpy as np
import torch
from joblib import Memory
from numpy.random import RandomState
from scipy.sparse import issparse
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted, column_or_1d
from skorch import NeuralNetClassifier
from skorch.callbacks import EpochScoring

from ..networks._summary import ModelSummary
from ..training._batching import BatchIterator, ImageDataset
from ..training._callbacks import encoded_accuracy
from ._base import CNNEstimatorMixin
from ._parameter_table import CLASSIFIER_PARAMETERS, SHARED_ATTRIBUTES_DOC
from ._parameters import document_parameters, parameter_constraints
from ._targets import check_classes, class_weights, encode_labels


@document_parameters(CLASSIFIER_PARAMETERS, SHARED_ATTRIBUTES_DOC)
class CNNClassifier(CNNEstimatorMixin, NeuralNetClassifier):
    """Convolutional neural network classifier for image arrays, scikit-learn style.

    A :class:`skorch.NeuralNetClassifier` that infers the input layout, channels, image size
    and classes in ``fit``, builds a CNN (Conv -> activation -> pool, repeated; then global
    pooling, dropout and a dense softmax layer) and trains it on batches sliced from the
    in-memory images (kept uint8 until each batch is made, ``channels_last``). Every skorch
    parameter and prefix (``optimizer__``, ``iterator_train__``, ``callbacks``, ...) still works.

    Not to be confused with sktime's ``CNNClassifier`` (time series).

    Parameters
    ----------
    {parameters}

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels, sorted unless ``classes`` (of the constructor or of the first
        ``partial_fit`` call) fixes them and their order. For multi-label targets, one per
        column of y: ``0, 1, ...``, or the names given as ``classes``.
    multilabel_ : bool
        Whether y was a multi-label indicator matrix (trained with one sigmoid and binary
        cross-entropy per label).
    {attributes}
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

    _parameter_table = CLASSIFIER_PARAMETERS
    _parameter_constraints = parameter_constraints(CLASSIFIER_PARAMETERS)
    #: The fitted state besides the network and the history (what sk_cnn.save writes).
    _fitted_attributes = ("input_shape_", "input_dtype_", "layout_", "n_features_in_",
                          "validation_seed_", "classes_inferred_", "class_weight_")

    def __init__(
        self,
        module: type[torch.nn.Module] | torch.nn.Module | None = None,
        *,
        architecture: str = "plain",
        conv_filters: Sequence[int] = (32, 64, 128, 256),
        kernel_size: int = 3,
        stride: int = 1,
        padding: str | int = "same",
        pooling: str | None = "max",
        activation: str = "relu",
        batch_norm: bool = True,
        global_pool: str = "avg",
        dense_units: Sequence[int] = (),
        dropout: float = 0.0,
        conv_dropout: float = 0.0,
        backbone: str | None = None,
        weights: str | os.PathLike | None = None,
        freeze: str | int | None = None,
        unfreeze_at_epoch: int | None = None,
        backbone_lr_factor: float = 1.0,
        input_size: int | Sequence[int] | None = None,
        memory: str | Memory | None = None,
        optimizer: str | type[torch.optim.Optimizer] | Callable = "adam",
        lr: float | None = None,
        momentum: float = 0.9,
        nesterov: bool = False,
        weight_decay: float = 0.0,
        batch_size: int = 64,
        max_epochs: int = 20,
        lr_schedule: str | None = "cosine",
        weight_averaging: str | None = None,
        validation_fraction: float | None = 0.1,
        early_stopping: int | None = None,
        checkpoint_dir: str | os.PathLike | None = None,
        tta: str | None = None,
        channels: str = "auto",
        input_type: str = "auto",
        random_state: int | RandomState | None = None,
        device: str | torch.device = "auto",
        mixed_precision: str | None = None,
        strategy: str | None = None,
        verbose: int = 1,
        train_split: Callable | None = None,
        iterator_train: type = BatchIterator,
        iterator_valid: type = BatchIterator,
        dataset: type = ImageDataset,
        criterion: type[torch.nn.Module] = torch.nn.CrossEntropyLoss,
        class_weight: dict | str | None = None,
        label_smoothing: float = 0.0,
        classes: Sequence | None = None,
        threshold: float = 0.5,
        callbacks: list | None = None,
        predict_nonlinearity: str | Callable | None = "auto",
        warm_start: bool = False,
        compile: bool = False,
        use_caching: str | bool = "auto",
        torch_load_kwargs: dict | None = None,
        **kwargs,
    ):
        self._init_skorch(locals())

    # ------------------------------------------------------------------ fit
    def partial_fit(self, X, y, classes=None, sample_weight=None, **fit_params):
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
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the samples' losses, as in :meth:`fit` (rescaled to mean 1 within
            this call).
        **fit_params : dict
            Passed to the module's ``forward``.

        Returns
        -------
        self : CNNClassifier
            The classifier.
        """
        if classes is None:
            return self._partial_fit(X, y, sample_weight=sample_weight, **fit_params)
        classes = check_classes(classes, "classes")
        fixed = self.classes_ if self.__sklearn_is_fitted__() else self.classes
        if fixed is not None and not np.array_equal(classes, np.asarray(fixed)):
            raise ValueError(
                f"partial_fit got classes={classes.tolist()}, but the classifier's classes are "
                f"{np.asarray(fixed).tolist()}. Pass the same classes in every call (or none).")
        self._first_call_classes = classes
        try:
            return self._partial_fit(X, y, sample_weight=sample_weight, **fit_params)
        finally:
            del self._first_call_classes

    def _target_checks_for(self, y):
        # A 2-D y of several columns (dense or sparse) is a multi-label indicator matrix.
        if issparse(y):
            shape = y.shape
        else:
            try:
                shape = np.asarray(y).shape
            except ValueError:  # ragged: validate_data says what is wrong
                shape = ()
        return {"multi_output": True} if len(shape) == 2 and shape[1] > 1 else {}

    def _fit_targets(self, y, sample_weight=None):
        if y.ndim == 2:
            return self._fit_multilabel_targets(y)
        self.multilabel_ = False
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
            classes = check_classes(self.classes, "CNNClassifier(classes=...)")
        if classes is None:
            classes = unique
        y_encoded = encode_labels(y, classes)
        if len(classes) < 2:
            raise ValueError(
                f"{type(self).__name__} needs samples of at least 2 classes in y; y has one class "
                f"({classes[0]!r}).")
        self.classes_inferred_ = classes
        self.class_weight_ = class_weights(self.class_weight, classes, y_encoded)
        return torch.from_numpy(y_encoded)

    def _fit_multilabel_targets(self, y):
        """Learn the labels of a multi-label indicator matrix y; y as float32 columns."""
        y = y.toarray() if issparse(y) else np.asarray(y)
        kind = type_of_target(y)
        if kind != "multilabel-indicator":
            raise ValueError(
                f"A 2-D y of shape {y.shape} is read as multi-label targets: one column per "
                f"label, 1 where the label applies and 0 where it does not (scikit-learn's "
                f"'multilabel-indicator'); this y is {kind!r}. Give one label per sample as a "
                f"1-D y, or binarize label sets with sklearn.preprocessing.MultiLabelBinarizer.")
        if self.class_weight is not None or self.label_smoothing:
            raise ValueError(
                "class_weight and label_smoothing apply to single-label targets (softmax "
                "cross-entropy); multi-label targets train one sigmoid per label. Weigh "
                "samples with sample_weight, or the positives of each label with "
                "criterion__pos_weight=torch.tensor([...]).")
        classes = getattr(self, "_first_call_classes", None)
        if classes is None and self.classes is not None:
            classes = check_classes(self.classes, "CNNClassifier(classes=...)")
        if classes is not None and len(classes) != y.shape[1]:
            raise ValueError(
                f"classes names {len(classes)} labels, but the multi-label y has {y.shape[1]} "
                f"columns; give one name per column (or classes=None).")
        self.multilabel_ = True
        self.classes_inferred_ = np.arange(y.shape[1]) if classes is None else classes
        self.class_weight_ = None
        return torch.from_numpy(y.astype(np.float32))

    def _encode_targets(self, y):
        if not getattr(self, "multilabel_", False):
            return torch.from_numpy(encode_labels(column_or_1d(y, warn=True), self.classes_))
        y = y.toarray() if issparse(y) else np.asarray(y)
        if y.ndim != 2 or y.shape[1] != len(self.classes_) or not np.isin(y, (0, 1)).all():
            raise ValueError(
                f"{type(self).__name__} was fitted on multi-label targets of "
                f"{len(self.classes_)} labels: y must be a 0/1 matrix of shape (n_samples, "
                f"{len(self.classes_)}); got shape {y.shape}.")
        return torch.from_numpy(y.astype(np.float32))

    def _n_outputs(self):
        return len(self.classes_)

    def _set_outputs_before_fit(self, n_classes):
        """Give an unfitted clone ``n_classes`` classes (for its summary)."""
        if n_classes is None:
            if self.classes is None:
                raise ValueError(
                    "Before fit the number of classes is unknown too: pass n_classes (e.g. "
                    "summary(input_shape=(32, 32, 3), n_classes=10)) or give the classifier "
                    "classes=[...].")
            n_classes = len(self.classes)
        if not isinstance(n_classes, Integral) or n_classes < 2:
            raise ValueError(f"n_classes must be an integer >= 2, got {n_classes!r}.")
        self.classes = None
        self.classes_inferred_ = np.arange(n_classes)

    def initialize_criterion(self):
        """Cross-entropy with ``label_smoothing`` and ``class_weight``, binary cross-entropy
        of each label for multi-label targets (or the given ``criterion``)."""
        kwargs = self.get_params_for("criterion")
        if self.criterion is torch.nn.CrossEntropyLoss and getattr(self, "multilabel_", False):
            # One sigmoid per label.
            self.criterion_ = self.initialized_instance(torch.nn.BCEWithLogitsLoss, kwargs)
            return self
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
            Columns follow ``classes_``. Rows sum to 1; for multi-label targets, each column
            is the probability of its label (a sigmoid each).
        """
        return super().predict_proba(self._predict_dataset(X))

    def predict(self, X):
        """Predicted class labels of X.

        Parameters
        ----------
        X : array-like
            Images of the shape seen in fit.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,) or (n_samples, n_labels)
            Labels from ``classes_``; for multi-label targets the 0/1 indicator matrix,
            1 where a label's probability is at least ``threshold``.
        """
        proba = self.predict_proba(X)
        if getattr(self, "multilabel_", False):
            self._validate_parameters_named(("threshold",))
            return (proba >= self.threshold).astype(np.int64)
        return self.classes_[proba.argmax(axis=1)]

    def score(self, X, y, sample_weight=None):
        """Mean accuracy of ``predict(X)`` against ``y`` (for multi-label targets, the
        share of samples whose every label is right, as scikit-learn's ``accuracy_score``).

        A label of ``y`` that fit never saw cannot be predicted, so it counts as an error: a
        warning names such labels (often a sign of other label encodings, such as strings
        against integers, or of a test set with classes the training set lacked).

        Parameters
        ----------
        X : array-like
            Images of the shape seen in fit.
        y : array-like of shape (n_samples,)
            True labels.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the samples in the mean.

        Returns
        -------
        score : float
            The accuracy, between 0 and 1.
        """
        check_is_fitted(self)
        if getattr(self, "multilabel_", False):
            return super().score(X, y, sample_weight=sample_weight)
        known = self.classes_.tolist()
        # Compared as predict's labels are (1 and 1.0 alike, "1" and 1 not).
        unseen = sorted(set(np.asarray(y).ravel().tolist()) - set(known), key=repr)
        if unseen:
            warnings.warn(
                f"y holds {len(unseen)} label(s) that fit never saw ({unseen[:5]!r}); they "
                f"count as errors. The classifier knows {known[:10]!r}"
                f"{' ...' if len(known) > 10 else ''}.", UserWarning, stacklevel=2)
        return super().score(X, y, sample_weight=sample_weight)

    def summary(self, input_shape: tuple[int, ...] | None = None, *,
                n_classes: int | None = None) -> ModelSummary:
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
        summary : sk_cnn.inspection.ModelSummary
            ``print(clf.summary())`` shows the table; ``total_params``, ``trainable_params``
            and ``layers`` hold the numbers.
        """
        return self._summary(input_shape, n_classes)
