"""CNNRegressor: a skorch NeuralNetRegressor that builds and trains a CNN from image arrays."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.utils._available_if import available_if
from sklearn.utils._param_validation import StrOptions
from skorch import NeuralNet, NeuralNetRegressor
from skorch.callbacks import EpochScoring

from .callbacks import scaled_r2
from .parameters import CNN_PARAMETER_CONSTRAINTS, shared_parameters
from .training import CNNTrainingMixin


def _target_columns(y):
    """y as a float64 array of shape (n_samples, n_outputs)."""
    y = np.asarray(y, dtype=np.float64)
    if y.ndim not in (1, 2):
        raise ValueError(f"y must be 1-D (one target) or 2-D (one column per target); got "
                         f"shape {y.shape}.")
    return y.reshape(len(y), -1)


# criterion name -> torch loss class.
LOSSES = {"mse": torch.nn.MSELoss, "huber": torch.nn.HuberLoss, "l1": torch.nn.L1Loss}


@shared_parameters
class CNNRegressor(CNNTrainingMixin, NeuralNetRegressor):
    """Convolutional neural network regressor for images and 1-D signals, scikit-learn style.

    The regression sibling of :class:`CNNClassifier`: the same network (Conv -> activation ->
    pool, repeated; global pooling, dropout, a dense output layer with one unit per target),
    the same inputs, transformers, training options and speed, on top of
    :class:`skorch.NeuralNetRegressor`. ``score`` is the coefficient of determination R^2.

    Parameters
    ----------
    module : torch.nn.Module class or instance, or None, default=None
        None builds sk_cnn's CNN from the architecture parameters below; a module is used as in
        skorch (configure it with ``module__`` parameters) and must output
        ``(n_samples, n_outputs)`` predictions (of the scaled targets when
        ``scale_target=True``).
    {shared_parameters}
    dropout : float in [0, 1), default=0.0
        Dropout before each dense layer of the head. Off by default, as for the classifier:
        in benchmarks/regressor_defaults.py dropout 0.5 changed the held-out R^2 by -0.001 on
        the digits task and +0.013 on the signal task (table in the user guide).
    criterion : {"mse", "huber", "l1"} or torch loss class, default="mse"
        The loss: mean squared error, Huber loss (quadratic below ``criterion__delta``,
        default 1, linear above: robust to outliers) or mean absolute error. With
        ``scale_target=True`` it is computed on the standardized targets.
    scale_target : bool, default=True
        Standardize each target with the mean and standard deviation of the training targets
        for training, and undo it in ``predict``, so the learning rate fits targets of any
        scale (measured in benchmarks/regressor_defaults.py).
    **kwargs : dict
        Any other skorch parameter (``callbacks``, ``warm_start``, ``optimizer__...``, ...).

    Attributes
    ----------
    n_outputs_ : int
        Number of targets (columns of a 2-D y; 1 for a 1-D y).
    target_mean_, target_scale_ : ndarray of shape (n_outputs,)
        The standardization of the targets (0 and 1 when ``scale_target=False``).
    {shared_attributes}
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

    _parameter_constraints = {
        **CNN_PARAMETER_CONSTRAINTS,
        "criterion": [StrOptions(set(LOSSES)), type, callable],
        "scale_target": ["boolean"],
    }
    _target_checks = {"multi_output": True, "y_numeric": True}

    def __init__(self, module=None, *, dropout=0.0, criterion="mse", scale_target=True,
                 **kwargs):
        super().__init__(module, dropout=dropout, criterion=criterion, **kwargs)
        self.scale_target = scale_target

    def partial_fit(self, X, y, **fit_params):
        """Train for ``max_epochs`` more epochs, keeping the weights (fit first when unfitted).

        The target standardization of the first fit is kept.

        Parameters
        ----------
        X : array-like
            Samples of the shape seen in the first fit.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets, as many as in the first fit.
        **fit_params : dict
            Passed to the module's ``forward``.

        Returns
        -------
        self : CNNRegressor
            The regressor.
        """
        return self._partial_fit(X, y, **fit_params)

    def _fit_targets(self, y):
        y2d = _target_columns(y)
        self.n_outputs_ = y2d.shape[1]
        if self.scale_target:
            # Divided by the largest magnitude first: the squares of targets near 1e154
            # would overflow.
            magnitude = np.abs(y2d).max(axis=0)
            magnitude = np.where((magnitude > 0) & np.isfinite(magnitude), magnitude, 1.0)
            scale = (y2d / magnitude).std(axis=0) * magnitude
            self.target_mean_ = y2d.mean(axis=0)
            self.target_scale_ = np.where(scale > 1e-12, scale, 1.0)
        else:
            self.target_mean_ = np.zeros(self.n_outputs_)
            self.target_scale_ = np.ones(self.n_outputs_)
        return self._encode_targets(y2d)

    def _encode_targets(self, y):
        y2d = _target_columns(y)
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
        criterion = LOSSES.get(self.criterion if isinstance(self.criterion, str) else None,
                               self.criterion)
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
        scaled = NeuralNet.predict_proba(self, self._validate_predict_data(X))
        y_pred = scaled.astype(np.float64) * self.target_scale_ + self.target_mean_
        return y_pred.ravel() if self.n_outputs_ == 1 else y_pred

    @available_if(lambda reg: False)
    def predict_proba(self, X):
        """Not available: a regressor has no class probabilities (skorch's is hidden)."""
        raise AttributeError("CNNRegressor has no predict_proba; use predict.")

    def summary(self, input_shape: tuple[int, ...] | None = None, *, n_outputs: int = 1):
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
        summary : sk_cnn.summary.ModelSummary
            ``print(reg.summary())`` shows the table.
        """
        from .summary import model_summary

        return model_summary(self, input_shape, n_outputs=n_outputs)
