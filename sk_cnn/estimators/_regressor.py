"""CNNRegressor: a skorch NeuralNetRegressor that builds and trains a CNN from image arrays."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from numbers import Integral

import numpy as np
import torch
from joblib import Memory
from numpy.random import RandomState
from sklearn.utils._available_if import available_if
from skorch import NeuralNet, NeuralNetRegressor
from skorch.callbacks import EpochScoring

from ..networks._summary import ModelSummary
from ..training._batching import BatchIterator, ImageDataset
from ..training._callbacks import scaled_r2
from ._base import CNNEstimatorMixin
from ._parameter_table import REGRESSOR_PARAMETERS, SHARED_ATTRIBUTES_DOC
from ._parameters import document_parameters, parameter_constraints
from ._targets import REGRESSION_LOSSES, target_columns


@document_parameters(REGRESSOR_PARAMETERS, SHARED_ATTRIBUTES_DOC)
class CNNRegressor(CNNEstimatorMixin, NeuralNetRegressor):
    """Convolutional neural network regressor for images and 1-D signals, scikit-learn style.

    The regression sibling of :class:`CNNClassifier`: the same network (Conv -> activation ->
    pool, repeated; global pooling, dropout, a dense output layer with one unit per target),
    the same inputs, transformers, training options and speed, on top of
    :class:`skorch.NeuralNetRegressor`. ``score`` is the coefficient of determination R^2.

    Parameters
    ----------
    {parameters}

    Attributes
    ----------
    n_outputs_ : int
        Number of targets (columns of a 2-D y; 1 for a 1-D y).
    target_mean_, target_scale_ : ndarray of shape (n_outputs,)
        The standardization of the targets (0 and 1 when ``scale_target=False``).
    {attributes}
    history : skorch.History
        Per-epoch ``train_loss``, ``train_r2`` (running, on augmented batches),
        ``valid_loss``, ``valid_r2`` and ``dur``.

    See Also
    --------
    CNNClassifier : the classifier sharing everything but the targets.
    ImageNormalizer, ImageAugmenter : the transformers to put before it.

    Notes
    -----
    A 1-D y gives 1-D predictions; a 2-D y of shape ``(n_samples, n_outputs)`` gives
    predictions of that shape (one with a single column is treated as 1-D, as in
    :class:`sklearn.neural_network.MLPRegressor`).

    Examples
    --------
    >>> import numpy as np
    >>> from sk_cnn import CNNRegressor
    >>> X = np.random.default_rng(0).normal(size=(40, 16)).astype(np.float32)
    >>> reg = CNNRegressor(conv_filters=(8,), max_epochs=2, verbose=0, random_state=0)
    >>> reg.fit(X, X.mean(axis=1)).predict(X[:3]).shape
    (3,)
    """

    _parameter_table = REGRESSOR_PARAMETERS
    _parameter_constraints = parameter_constraints(REGRESSOR_PARAMETERS)
    _target_checks = {"multi_output": True, "y_numeric": True}
    #: The fitted state besides the network and the history (what sk_cnn.save writes).
    _fitted_attributes = ("input_shape_", "input_dtype_", "layout_", "n_features_in_",
                          "validation_seed_", "n_outputs_", "target_mean_", "target_scale_")

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
        criterion: str | type[torch.nn.Module] = "mse",
        scale_target: bool = True,
        callbacks: list | None = None,
        predict_nonlinearity: str | Callable | None = "auto",
        warm_start: bool = False,
        compile: bool = False,
        use_caching: str | bool = "auto",
        torch_load_kwargs: dict | None = None,
        **kwargs,
    ):
        self._init_skorch(locals())

    def partial_fit(self, X, y, sample_weight=None, **fit_params):
        """Train for ``max_epochs`` more epochs, keeping the weights (fit first when unfitted).

        The target standardization of the first fit is kept.

        Parameters
        ----------
        X : array-like
            Samples of the shape seen in the first fit.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets, as many as in the first fit.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the samples' losses, as in :meth:`fit` (rescaled to mean 1 within
            this call).
        **fit_params : dict
            Passed to the module's ``forward``.

        Returns
        -------
        self : CNNRegressor
            The regressor.
        """
        return self._partial_fit(X, y, sample_weight=sample_weight, **fit_params)

    def _fit_targets(self, y, sample_weight=None):
        y2d = target_columns(y)
        self.n_outputs_ = y2d.shape[1]
        if self.scale_target:
            # Divided by the largest magnitude first: the squares of targets near 1e154
            # would overflow.
            magnitude = np.abs(y2d).max(axis=0)
            magnitude = np.where((magnitude > 0) & np.isfinite(magnitude), magnitude, 1.0)
            if sample_weight is None:
                scale = (y2d / magnitude).std(axis=0) * magnitude
                self.target_mean_ = y2d.mean(axis=0)
            else:  # a sample of weight 0 is as if absent
                weights = sample_weight.numpy()
                self.target_mean_ = np.average(y2d, axis=0, weights=weights)
                deviation = (y2d - self.target_mean_) / magnitude
                scale = np.sqrt(np.average(deviation**2, axis=0, weights=weights)) * magnitude
            self.target_scale_ = np.where(scale > 1e-12, scale, 1.0)
        else:
            self.target_mean_ = np.zeros(self.n_outputs_)
            self.target_scale_ = np.ones(self.n_outputs_)
        return self._encode_targets(y2d)

    def _encode_targets(self, y):
        y2d = target_columns(y)
        if y2d.shape[1] != self.n_outputs_:
            raise ValueError(f"{type(self).__name__} was fitted on {self.n_outputs_} target(s); "
                             f"y has {y2d.shape[1]}.")
        if not np.isfinite(y2d).all():
            raise ValueError("y contains NaN or infinity; remove or impute those targets.")
        scaled = (y2d - self.target_mean_) / self.target_scale_
        if np.abs(scaled).max(initial=0) > np.finfo(np.float32).max:
            raise ValueError("y has values beyond float32's range (+-3.4e38), in which the "
                             "network computes; rescale y or set scale_target=True.")
        return torch.from_numpy(scaled.astype(np.float32))

    def _n_outputs(self):
        return self.n_outputs_

    def initialize_criterion(self):
        """The loss named by ``criterion`` (or skorch's handling of a loss class)."""
        criterion = REGRESSION_LOSSES.get(
            self.criterion if isinstance(self.criterion, str) else None, self.criterion)
        self.criterion_ = self.initialized_instance(criterion, self.get_params_for("criterion"))
        return self

    def _scoring_callbacks(self):
        return [
            ("train_r2", EpochScoring(scaled_r2, name="train_r2", on_train=True,
                                      lower_is_better=False)),
            ("valid_r2", EpochScoring(scaled_r2, name="valid_r2", lower_is_better=False)),
        ]

    def predict(self, X):
        """Predicted targets of X, never augmented.

        Parameters
        ----------
        X : array-like
            Samples of the shape seen in fit.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            Predictions on the scale of the training targets.
        """
        scaled = NeuralNet.predict_proba(self, self._predict_dataset(X))
        y_pred = scaled.astype(np.float64) * self.target_scale_ + self.target_mean_
        return y_pred.ravel() if self.n_outputs_ == 1 else y_pred

    @available_if(lambda reg: False)
    def predict_proba(self, X):
        """Not available: a regressor has no class probabilities (skorch's is hidden)."""
        raise AttributeError("CNNRegressor has no predict_proba; use predict.")

    def summary(self, input_shape: tuple[int, ...] | None = None, *,
                n_outputs: int = 1) -> ModelSummary:
        """Keras-like table of the network: layers, output shapes, parameters, trainable.

        Parameters
        ----------
        input_shape : tuple of int or None, default=None
            Shape of one sample as given to ``fit``, e.g. ``(32, 32, 3)`` or ``(3, 100)``.
            Needed before fit; once fitted the summary is at ``input_shape_``.
        n_outputs : int, default=1
            Units of the output layer before fit; ignored once fitted.

        Returns
        -------
        summary : sk_cnn.inspection.ModelSummary
            ``print(reg.summary())`` shows the table.
        """
        return self._summary(input_shape, n_outputs)

    def _set_outputs_before_fit(self, n_outputs):
        """Give an unfitted clone ``n_outputs`` targets (for its summary)."""
        if not isinstance(n_outputs, Integral) or n_outputs < 1:
            raise ValueError(f"n_outputs must be an integer >= 1, got {n_outputs!r}.")
        self.n_outputs_ = n_outputs
