"""``transform``: a fitted network's feature vectors, for any scikit-learn model after it."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.utils._set_output import _SetOutputMixin
from sklearn.utils.validation import check_is_fitted
from skorch.dataset import unpack_data

from .._skorch import set_training
from ..networks._output_layer import capturing_output_layer_input, output_layer
from ..training._batching import to_network_input


class EmbeddingMixin(_SetOutputMixin):
    """``transform`` and ``get_feature_names_out`` of sk_cnn's estimators.

    A fitted estimator is then a transformer too: ``Pipeline([..., CNNClassifier(),
    LogisticRegression()])`` trains the network on the labels, then the last step on the
    network's feature vectors. scikit-learn's ``set_output`` (pandas, polars) applies to them.
    """

    def transform(self, X):
        """The network's feature vectors of X: what enters its output layer.

        The pooled features after the convolutions (and after the hidden dense layers, with
        ``dense_units``), computed in evaluation mode, without augmentation or ``tta``.

        Parameters
        ----------
        X : array-like
            Images (or signals) of the shape seen in fit.

        Returns
        -------
        features : ndarray of shape (n_samples, n_features_out)
            float32 feature vectors, one row per sample.
        """
        iterator = self.get_iterator(self.get_dataset(self._predict_dataset(X)), training=False)
        with capturing_output_layer_input(self.module_) as captured, torch.inference_mode():
            set_training(self, False)
            for batch in iterator:
                Xi, _ = unpack_data(batch)
                self._run_network(to_network_input(Xi, self.device))
        if not captured:
            return np.empty((0, self._n_features_out()), dtype=np.float32)
        return torch.cat(captured).numpy()

    def fit_transform(self, X, y, sample_weight=None, **fit_params):
        """Fit the network on X and y, then return :meth:`transform` of X.

        Parameters
        ----------
        X : array-like
            Training images or signals, as for ``fit``.
        y : array-like
            Targets, as for ``fit``.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the samples' losses, as for ``fit``.
        **fit_params : dict
            Passed to ``fit``.

        Returns
        -------
        features : ndarray of shape (n_samples, n_features_out)
            The fitted network's feature vectors of X (without augmentation).
        """
        return self.fit(X, y, sample_weight=sample_weight, **fit_params).transform(X)

    def _n_features_out(self) -> int:
        return output_layer(self.module_).in_features

    def get_feature_names_out(self, input_features=None):
        """Names of the columns of :meth:`transform`: ``"cnnclassifier0"``, ...

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Ignored (the features are the network's own); accepted for scikit-learn's API.

        Returns
        -------
        feature_names_out : ndarray of str
            One name per feature, the class name in lower case followed by its position.
        """
        check_is_fitted(self)
        prefix = type(self).__name__.lower()
        return np.asarray([f"{prefix}{i}" for i in range(self._n_features_out())],
                          dtype=object)
