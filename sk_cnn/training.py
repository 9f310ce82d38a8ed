"""The training machinery CNN estimators share: validation, seeding, network, optimizer,
data splitting and batches, and the fast train / predict steps (the callbacks, schedules
included, come from :mod:`sk_cnn.callbacks`)."""

from __future__ import annotations

import warnings

import numpy as np
import torch
from sklearn.base import is_classifier
from sklearn.utils.validation import check_consistent_length, check_is_fitted
from skorch import NeuralNet
from skorch.callbacks import EarlyStopping
from skorch.dataset import unpack_data

from .augment import (
    alternating_flip_mask,
    augment_batch,
    check_spec_fits,
    split_augmentation,
)
from .callbacks import default_callbacks
from .data import (
    BatchIterator,
    as_tensor,
    canonical_view,
    check_network_input,
    resolve_channels,
    to_network_input,
    validate_images,
    validation_split,
)
from .network import build_network
from .optim import build_optimizer
from .parameters import CNNParametersMixin, check_fit_params
from .precision import autocast
from .rollback import module_snapshot, restore_module, restore_state, state_snapshot
from .seeding import call_seed, seeded
from .skorch_compat import (
    SkorchConventionsMixin,
    record_build_params,
    warn_if_built_with_other_values,
)
from .tta import tta_logits


class CNNTrainingMixin(CNNParametersMixin, SkorchConventionsMixin):
    """skorch hooks and helpers of sk_cnn's estimators; put it left of the skorch base class.

    An estimator built on it supplies what differs between classification and regression:
    ``_fit_targets(y)`` (learn and encode the targets in fit), ``_encode_targets(y)`` (encode
    them later), ``_n_outputs()`` (units of the output layer) and ``_scoring_callbacks()``.
    """

    def _validate_predict_data(self, X):
        check_is_fitted(self)
        X, _ = split_augmentation(X)
        given = getattr(X, "shape", ())[1:]
        images = max(len(given), len(self.input_shape_)) >= 2
        if given and tuple(given) != self.input_shape_ and images:
            # Images of another shape (or flat rows after images): say so in their terms
            # before validate_data's "expecting n features" message (kept for flat rows).
            self._raise_shape_mismatch(given)
        X, _ = validate_images(self, X, reset=False)
        if X.shape[1:] != self.input_shape_:
            self._raise_shape_mismatch(X.shape[1:])
        # Estimators fitted by sk_cnn before input_dtype_ existed skip the scale check.
        check_network_input(self, X, getattr(self, "input_dtype_", None))
        view = canonical_view(X, self.layout_)
        self._check_tta(images=view.ndim == 4)  # tta may have been set after fit
        return as_tensor(view)

    def _raise_shape_mismatch(self, given):
        raise ValueError(
            f"{type(self).__name__} was fitted on samples of shape {self.input_shape_}, but X has "
            f"samples of shape {tuple(given)}. Resize the images (or reshape the rows) to the "
            f"training shape, or refit{' with warm_start=False' if self.warm_start else ''}.")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        if tags.estimator_type == "regressor":
            tags.target_tags.multi_output = True
        return tags

    def __sklearn_is_fitted__(self):
        return hasattr(self, "input_shape_") and super().__sklearn_is_fitted__()

    # Passed to scikit-learn's validate_data with y in fit (the regressor takes 2-D float y).
    _target_checks: dict = {}

    def fit(self, X, y, **fit_params):
        """Build the network for X and y, then train it for ``max_epochs``.

        With ``warm_start=True`` a fitted estimator continues training its network instead,
        as :meth:`partial_fit` does: the data must have the fitted input shape and labels
        among ``classes_`` (or the fitted number of targets).

        Parameters
        ----------
        X : array-like of shape (n_samples, H, W), (n_samples, H, W, C), (n_samples, C, H, W), \
(n_samples, L) or (n_samples, C, L)
            Training images (uint8 or float) or 1-D signals; possibly marked for augmentation
            by :class:`~sk_cnn.ImageAugmenter`.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Class labels of any type (classifier), or numeric targets, one column per output
            (regressor).
        **fit_params : dict
            Passed to the module's ``forward`` (skorch's convention).

        Returns
        -------
        self : object
            The fitted estimator.
        """
        self._validate_hyperparameters()
        check_fit_params(self, fit_params)
        if self.warm_start and self.__sklearn_is_fitted__():
            warn_if_built_with_other_values(self, stacklevel=3)
            return self._continue_training(X, y, resume=True, **fit_params)
        # An error leaves the estimator as it was: a fitted one keeps predicting with its
        # network, not with half of the new fit's attributes or a diverged network. (A
        # KeyboardInterrupt that skorch does not swallow keeps what was trained, as skorch does.)
        before, training = dict(self.__dict__), False
        # skorch trains a module given as an instance in place, fitted before or not.
        instance = (module_snapshot(self.module) if isinstance(self.module, torch.nn.Module)
                    else None)
        try:
            (X, y), spec = validate_images(self, X, y, reset=True, **self._target_checks)
            check_network_input(self, X)
            y_encoded = self._fit_targets(y)
            self.layout_ = resolve_channels(X.shape, self.channels, self.input_type)
            view = canonical_view(X, self.layout_)
            self._check_tta(images=view.ndim == 4)
            self.input_shape_ = tuple(X.shape[1:])
            self.input_dtype_ = X.dtype
            with seeded(self.random_state, self.device):
                # Drawn once per fit, so a resumed fit (checkpoint_dir) splits the same way.
                self.validation_seed_ = int(torch.randint(2**31 - 1, ()).item())
                self.history_ = None  # a new History: skorch would clear the old one in place
                self._interrupted_call_start = None
                self.initialize()
                training = True
                self._train(as_tensor(view), y_encoded, spec, resume=True, **fit_params)
        except BaseException as error:
            if not (training and isinstance(error, KeyboardInterrupt)):
                self.__dict__.clear()
                self.__dict__.update(before)
                if instance is not None:
                    restore_module(self.module, instance)
            raise
        return self

    def _fitted_on_images(self) -> bool:
        """True for a network of images (Conv2d), False for 1-D signals."""
        return canonical_view(np.empty((1,) + self.input_shape_, np.uint8), self.layout_).ndim == 4

    def _check_tta(self, images: bool):
        if self.tta is not None and not images:
            raise ValueError(f"tta={self.tta!r} mirrors images, but {type(self).__name__} "
                             f"works on 1-D signals here; set tta=None.")

    def _partial_fit(self, X, y, **fit_params):
        """partial_fit: more epochs on the fitted network (a first fit when unfitted)."""
        if not self.__sklearn_is_fitted__():
            return self.fit(X, y, **fit_params)
        self._validate_hyperparameters()
        check_fit_params(self, fit_params)
        warn_if_built_with_other_values(self, stacklevel=4)  # user -> partial_fit -> here -> warn
        return self._continue_training(X, y, **fit_params)

    def _continue_training(self, X, y, resume=False, **fit_params):
        """Train the fitted network on X and y, checked against what the first fit saw."""
        _, spec = split_augmentation(X)
        X_tensor = self._validate_predict_data(X)
        check_consistent_length(X_tensor, y)
        y_encoded = self._encode_targets(y)
        snapshot = state_snapshot(self)  # the network trains in place
        try:
            with seeded(self.random_state, self.device, epochs_done=len(self.history)):
                self._train(X_tensor, y_encoded, spec, resume=resume, **fit_params)
        except Exception:
            restore_state(self, snapshot)
            raise
        return self

    def _augmentation(self, X, spec):
        """``(spec, generator, first_epoch_flips)`` for the training batches, or None.

        Checks ``spec`` against the data; ``first_epoch_flips`` (one bool per sample) is drawn
        for ``horizontal_flip="alternate"`` only.
        """
        if spec is None or spec.is_identity():
            return None
        generator = None
        if spec.random_state is not None:
            # On the data's device: the random parameters are drawn where the batches are.
            generator = torch.Generator(device=X.device).manual_seed(
                call_seed(spec.random_state, len(self.history)))
        check_spec_fits(spec, X.shape)
        first_epoch_flips = None
        if spec.horizontal_flip == "alternate":
            if not (isinstance(self.iterator_train, type)
                    and issubclass(self.iterator_train, BatchIterator)):
                raise ValueError(
                    'ImageAugmenter(horizontal_flip="alternate") needs the batch positions that '
                    "sk_cnn's BatchIterator reports; iterator_train is "
                    f"{self.iterator_train!r}. Use iterator_train=BatchIterator (the default) or "
                    "horizontal_flip=True.")
            first_epoch_flips = getattr(self, "_first_epoch_flips", None)
            if not (len(self.history) and first_epoch_flips is not None
                    and len(first_epoch_flips) == len(X)):
                first_epoch_flips = torch.rand(len(X), generator=generator,
                                               device=X.device) < 0.5
            first_epoch_flips = first_epoch_flips.to(X.device)  # loaded from a file: the CPU
            # Kept, so that the alternation goes on in a continued fit on the same data.
            self._first_epoch_flips = first_epoch_flips
        return spec, generator, first_epoch_flips

    def _training_data(self, X, y):
        """X and y moved once to the training device when it is a GPU with room for them
        (at most half its free memory), so that batches are sliced and augmented there
        without a copy per batch; else X and y as given (batches are copied one by one)."""
        device = torch.device(self.device)
        if device.type != "cuda":
            return X, y
        y = torch.as_tensor(y)
        free, _ = torch.cuda.mem_get_info(device)
        if X.nbytes + y.nbytes > free // 2:
            return X, y
        return X.to(device), y.to(device)

    def _run_network(self, X, forward=None, **fit_params):
        """``forward(X)`` (default: the module) under ``mixed_precision``, as float32."""
        with autocast(self.mixed_precision, X.device):
            return (forward or self.module_)(X, **fit_params).float()

    def _train(self, X, y, spec, resume=False, **fit_params):
        X, y = self._training_data(X, y)
        self.augmentation_ = self._augmentation(X, spec)
        backup = dict(self.callbacks_).get("backup")
        # A warm_start fit cut short by Ctrl-C keeps its epochs: run again, it is the same call.
        call_start = getattr(self, "_interrupted_call_start", None) if resume else None
        try:
            done = 0
            if backup is not None:
                backup.start(self, X, y, spec, call_start, resumable=resume)
                done = backup.restore(self) if resume else 0
                if not done and call_start is not None:  # no backup of it: a new call
                    backup.start(self, X, y, spec, resumable=resume)
            start = len(self.history)
            epochs = self.max_epochs - done
            if epochs > 0:
                NeuralNet.partial_fit(self, X, y, epochs=epochs, **fit_params)
            completed = self._training_completed(start, epochs)
            self._interrupted_call_start = None if completed else start - done
            if not completed:
                warnings.warn(
                    f"Training was interrupted (KeyboardInterrupt) after "
                    f"{self._epochs_completed(start)} of {epochs} "
                    f"epochs; {type(self).__name__} keeps the network trained so far. Scores "
                    f"of this fit (in a grid search or cross-validation, which go on with the "
                    f"next fit) are those of a partly trained network.", UserWarning,
                    stacklevel=3)  # the caller of fit
            elif backup is not None:
                backup.discard()
        finally:
            self.augmentation_ = self._train_iterator_ = None

    def _training_completed(self, start, epochs):
        """True unless the fit was cut short by a KeyboardInterrupt (which skorch swallows)."""
        # skorch's EarlyStopping (sk_cnn's or one in ``callbacks``) stops by raising one too.
        stopped_early = any(isinstance(callback, EarlyStopping)
                            and callback.misses_ >= callback.patience
                            for _, callback in self.callbacks_)
        return self._epochs_completed(start) >= epochs or stopped_early

    def _epochs_completed(self, start=0):
        """Epochs from history row ``start`` on that ran to their end (an epoch cut short has a
        history row but no training loss, recorded at its end)."""
        return sum("train_loss" in row for row in list(self.history)[start:])

    # ------------------------------------------------------------------ skorch hooks
    def check_data(self, X, y):
        """Do nothing: ``fit`` validated and encoded the data before skorch sees it."""

    def initialize_module(self):
        """Build sk_cnn's network (see :func:`sk_cnn.network.build_network`) or skorch's."""
        record_build_params(self)
        if self.module is not None:
            return super().initialize_module()
        self.module_ = build_network(self)
        return self

    def initialize_optimizer(self, triggered_directly=None):
        """Create the optimizer (see :func:`sk_cnn.optim.build_optimizer`)."""
        self.optimizer_ = build_optimizer(self)
        return self

    @property
    def _default_callbacks(self):
        return default_callbacks(self, self._scoring_callbacks())

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
        """skorch's epoch loop; remembers the training iterator (alternating flip reads the
        positions of the current batch from it; callbacks may create other iterators)."""
        if training:
            self._train_iterator_ = iterator
        super().run_single_epoch(iterator, training, prefix, step_fn, **fit_params)

    def infer(self, x, **fit_params):
        """Run the network on a raw batch (converted to float32 on the device first)."""
        return self._run_network(to_network_input(x, self.device), **fit_params)

    def train_step_single(self, batch, **fit_params):
        """One forward/backward pass on a training batch, augmented when the data was marked."""
        self._set_training(True)
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
            y_pred = self._run_network(Xi, **fit_params)
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
            self._set_training(False)
            X = to_network_input(Xi, self.device)
            # Test-time augmentation: average with mirror (and shifted) images.
            return self._run_network(X, lambda x: tta_logits(self.module_, x, self.tta))
