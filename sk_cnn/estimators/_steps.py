"""The training and prediction steps of sk_cnn's estimators, as skorch's hooks.

skorch calls them while it trains and predicts: they build the network, optimizer and
callbacks from the estimator's parameters (each builder takes the parameters it names), split
off the validation data, slice and augment the batches, and run the network under
``mixed_precision``.
"""

from __future__ import annotations

import torch
from sklearn.base import is_classifier
from skorch.dataset import unpack_data

from .._skorch import set_training
from ..networks._build import build_network
from ..networks._tta import tta_logits
from ..training._augment import alternating_flip_mask, augment_batch
from ..training._batching import ImageDataset, release_heap_memory, to_network_input
from ..training._callbacks import build_callbacks
from ..training._optimizers import build_optimizer
from ..training._precision import autocast
from ..training._sample_weight import weighted_loss
from ..training._split import validation_split

#: Training batches of memory-mapped data between two releases of freed heap memory.
HEAP_RELEASE_BATCHES = 16


class SkorchStepsMixin:
    """skorch's hooks for sk_cnn's estimators (see :class:`~._base.CNNEstimatorMixin`)."""

    def check_data(self, X, y):
        """Do nothing: ``fit`` validated and encoded the data before skorch sees it."""

    def initialize_module(self):
        """Build sk_cnn's network (:func:`~sk_cnn.networks._build.build_network`), or
        skorch's module from ``module``."""
        self._record_built_values()
        if self.module is not None:
            return super().initialize_module()
        self.module_ = build_network(self._sample_shape(), self._n_outputs(),
                                     **self._parameters_for(build_network))
        return self

    def initialize_optimizer(self, triggered_directly=None):
        """Create the optimizer (:func:`~sk_cnn.training._optimizers.build_optimizer`)."""
        (param_groups,), options = self.get_params_for_optimizer(
            "optimizer", self.get_all_learnable_params())
        self.optimizer_ = build_optimizer(self.module_, param_groups, options,
                                          **self._parameters_for(build_optimizer))
        return self

    def _build_callbacks(self):
        return build_callbacks(self._scoring_callbacks(),
                               **self._parameters_for(build_callbacks))

    def get_split_datasets(self, X, y=None, **fit_params):
        """Split off the stratified ``validation_fraction`` (unless ``train_split`` is given);
        refuse splits that early stopping or the training batches cannot work with."""
        if self.train_split is not None:
            train, valid = super().get_split_datasets(X, y, **fit_params)
        else:
            train, valid = validation_split(
                self.get_dataset(X, y), y, self.validation_fraction,
                getattr(self, "validation_seed_", None), is_classifier(self))
        if valid is None and self.early_stopping is not None:
            raise ValueError(
                f"early_stopping needs a validation split, and {len(train)} samples leave none "
                f"(a classifier keeps 1 for training, a regressor 2 on each side). Give more "
                f"samples or set early_stopping=None.")
        params = self.get_params_for("iterator_train")
        batch_size = params.get("batch_size", self.batch_size)
        if params.get("drop_last") and batch_size != -1 and len(train) < batch_size:
            raise ValueError(
                f"The training split of {len(train)} samples gives no batch (batch_size="
                f"{batch_size}, iterator_train__drop_last=True). Use a smaller batch_size or "
                f"iterator_train__drop_last=False.")
        return train, valid

    def get_iterator(self, dataset, training=False):
        """skorch's iterator, shuffled for training unless ``iterator_train__shuffle`` says no."""
        if training and "shuffle" not in self.get_params_for("iterator_train"):
            kwargs = self.get_params_for("iterator_train")
            kwargs.setdefault("batch_size", self.batch_size)
            if kwargs["batch_size"] == -1:
                kwargs["batch_size"] = len(dataset)
            return self.iterator_train(dataset, shuffle=True, **kwargs)
        return super().get_iterator(dataset, training=training)

    def run_single_epoch(self, iterator, training, prefix, step_fn, **fit_params):
        """skorch's epoch loop; remembers the iterator (the loss reads the weights of the
        current batch from it, alternating flip the training batch's positions; callbacks may
        create other iterators)."""
        if training:
            self._train_iterator_ = iterator
        self._epoch_iterator_ = iterator
        try:
            super().run_single_epoch(iterator, training, prefix, step_fn, **fit_params)
        finally:
            self._epoch_iterator_ = None

    def get_dataset(self, X, y=None):
        """skorch's dataset of X and y, carrying the fit's ``sample_weight`` (:meth:`get_loss`
        weighs each batch's losses with them) and deferred normalization (applied to each
        batch read) when X is the data being fitted."""
        dataset = super().get_dataset(X, y)
        weighted = getattr(self, "_sample_weight_of", None)
        if weighted is not None and X is weighted[0] and isinstance(dataset, ImageDataset):
            dataset.sample_weight = weighted[1]
        normalized = getattr(self, "_normalization_of", None)
        if normalized is not None and X is normalized[0]:
            if not isinstance(dataset, ImageDataset):
                raise TypeError(
                    f"The training data carries ImageNormalizer's statistics for each batch "
                    f"(the normalizer's input was a memory map), which sk_cnn's ImageDataset "
                    f"applies; dataset is {self.dataset!r}. Use dataset=ImageDataset (the "
                    f"default), or give the normalizer an in-memory array.")
            dataset.normalization = normalized[1]
        return dataset

    def on_batch_end(self, net, batch=None, training=None, **kwargs):
        """Every ``HEAP_RELEASE_BATCHES`` training batches of memory-mapped data (a deferred
        normalization), give the heap memory their temporaries freed back to the system
        (:func:`~sk_cnn.training._batching.release_heap_memory`): the data set is larger
        than memory, so the process must not grow with the batches. (After every batch, the
        next batch's temporaries are paged in again: 0.61x the in-memory epoch's speed.)"""
        super().on_batch_end(net, batch=batch, training=training, **kwargs)
        if (training and getattr(self, "_normalization_of", None) is not None
                and len(self.history[-1, "batches"]) % HEAP_RELEASE_BATCHES == 0):
            release_heap_memory()

    def get_loss(self, y_pred, y_true, X=None, training=False):
        """The criterion's loss of a batch, each sample's multiplied by its ``sample_weight``
        when the fit has weights."""
        weights = getattr(getattr(self, "_epoch_iterator_", None), "sample_weight_", None)
        if weights is None:
            return super().get_loss(y_pred, y_true, X=X, training=training)
        y_true = torch.as_tensor(y_true, device=y_pred.device)
        return weighted_loss(self.criterion_, y_pred, y_true, weights)

    def infer(self, x, **fit_params):
        """Run the network on a raw batch (converted to float32 on the device first)."""
        return self._run_network(to_network_input(x, self.device), **fit_params)

    def train_step_single(self, batch, **fit_params):
        """One forward/backward pass on a training batch, augmented when the data was marked."""
        set_training(self, True)
        Xi, yi = unpack_data(batch)
        Xi = to_network_input(Xi, self.device)
        if self.augmentation_ is not None:
            spec, generator, first_epoch_flips = self.augmentation_
            flip = None
            if first_epoch_flips is not None:
                flip = alternating_flip_mask(first_epoch_flips, self._train_iterator_.indices_,
                                             len(self.history))
            Xi = augment_batch(Xi, spec, generator, flip=flip)
        try:
            y_pred = self._run_network(Xi, self._training_network(), **fit_params)
        except ValueError as exc:
            if "Expected more than 1 value per channel" not in str(exc):
                raise
            plain = self.module is None and self.backbone is None and (
                self.architecture == "plain")
            raise ValueError(
                f"A training batch of {len(Xi)} sample cannot train batch normalization here: "
                "the network's feature maps shrink to one value per channel. Train on batches "
                "of at least 2 samples (batch_size >= 2, partial_fit with 2 or more samples)"
                + (", or set batch_norm=False." if plain else ".")) from exc
        loss = self.get_loss(y_pred, yi, X=Xi, training=True)
        loss.backward()
        # Detached: skorch's scoring callbacks keep the predictions of the whole epoch.
        return {"loss": loss.detach(), "y_pred": y_pred.detach()}

    def evaluation_step(self, batch, training=False):
        """Forward pass for prediction, under ``torch.inference_mode`` unless training."""
        if training:
            return super().evaluation_step(batch, training=True)
        self.check_is_fitted()
        Xi, _ = unpack_data(batch)
        with torch.inference_mode():
            set_training(self, False)
            X = to_network_input(Xi, self.device)
            # Test-time augmentation: average with mirror (and shifted) images (not of the
            # features a head trains on, when a callback predicts during such a fit).
            tta = None if getattr(self.module_, "takes_features", False) else self.tta
            return self._run_network(X, lambda x: tta_logits(self.module_, x, tta))

    def _training_network(self):
        """What runs the training forward pass: the module (a data-parallel wrapper of it
        under ``strategy="ddp"``)."""
        return self.module_

    def _run_network(self, X, forward=None, **fit_params):
        """``forward(X)`` (default: the module) under ``mixed_precision``, as float32."""
        forward = self.module_ if forward is None else forward
        with autocast(self.mixed_precision, X.device):
            return forward(X, **fit_params).float()
