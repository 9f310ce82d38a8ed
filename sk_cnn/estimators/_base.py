"""What sk_cnn's estimators share: the fit / partial_fit flow and skorch's hooks.

``fit`` reads the augmentation (the contract of :mod:`sk_cnn.preprocessing._augmentation`),
validates the parameters and the data, learns the input layout and the targets, builds the
network, optimizer and callbacks from the estimator's parameters (each builder takes the
parameters it names) and trains on batches sliced from the in-memory data.
"""

from __future__ import annotations

import copy
import os
import warnings
from numbers import Integral

import numpy as np
import torch
from sklearn.base import clone, is_classifier
from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import validate_parameter_constraints
from sklearn.utils.validation import check_consistent_length, check_is_fitted
from skorch import NeuralNet
from skorch.dataset import unpack_data

from .._skorch import SkorchConventionsMixin, init_context, set_training, stopped_early
from ..exceptions import TrainingInterruptedWarning
from ..networks._build import build_network
from ..networks._summary import ModelSummary, summarize_module
from ..networks._tta import tta_logits
from ..preprocessing._augmentation import take_augmentation
from ..preprocessing._input import (
    canonical_view,
    check_network_input,
    resolve_channels,
    validate_images,
)
from ..training._augment import alternating_flip_mask, augment_batch, check_spec_fits
from ..training._backup import check_backup_directory
from ..training._batching import BatchIterator, as_tensor, to_network_input
from ..training._callbacks import build_callbacks
from ..training._optimizers import build_optimizer
from ..training._precision import autocast
from ..training._rollback import module_snapshot, restore_module, restore_state, state_snapshot
from ..training._seeding import call_seed, seeded
from ..training._split import validation_split
from ._parameters import CALLBACKS, NETWORK, OPTIMIZER, keyword_parameters, parameters_rebuilding


class CNNEstimatorMixin(SkorchConventionsMixin):
    """The fit flow and skorch hooks of sk_cnn's estimators; put it left of the skorch class.

    An estimator built on it has a ``_parameter_table`` and supplies what differs between
    classification and regression: ``_fit_targets(y)`` (learn and encode the targets in
    fit), ``_encode_targets(y)`` (encode them later), ``_n_outputs()`` (units of the output
    layer) and ``_scoring_callbacks()``.
    """

    #: Passed to scikit-learn's validate_data with y in fit (the regressor takes 2-D float y).
    _target_checks: dict = {}

    # ------------------------------------------------------------------ parameters
    def _validate_hyperparameters(self):
        """Check the parameters (constraints, then how they combine) at the start of fit."""
        validate_parameter_constraints(
            self._parameter_constraints, self.get_params(deep=False),
            caller_name=type(self).__name__)
        for name in ("conv_filters", "dense_units"):
            values = getattr(self, name)
            values = (values,) if isinstance(values, Integral) else tuple(values)
            if not all(isinstance(v, Integral) and v >= 1 for v in values):
                raise ValueError(
                    f"{name} must be a tuple of positive integers, got {getattr(self, name)!r}.")
        if self.module is None and not len(self.conv_filters):
            raise ValueError("conv_filters must name at least one convolution block, e.g. (32,).")
        if self.backbone is None and (self.freeze is not None or self.unfreeze_at_epoch
                                      or self.backbone_lr_factor != 1.0
                                      or self.input_size is not None):
            raise ValueError("freeze, unfreeze_at_epoch, backbone_lr_factor and input_size "
                             "need a backbone, e.g. backbone='resnet18'.")
        if isinstance(self.input_size, (tuple, list)) and not (
                len(self.input_size) == 2
                and all(isinstance(v, Integral) and v >= 1 for v in self.input_size)):
            raise ValueError(f"input_size must be a positive int or a pair (height, width) of "
                             f"positive ints, got {self.input_size!r}.")
        if self.architecture != "plain" and self.backbone is not None:
            raise ValueError(f"architecture={self.architecture!r} builds its own network; "
                             f"leave backbone=None (got {self.backbone!r}).")
        if self.early_stopping is not None and not self._uses_validation():
            raise ValueError(
                "early_stopping needs a validation split: set validation_fraction > 0 (for "
                "example 0.1) or pass train_split.")
        if self.checkpoint_dir is not None:
            check_backup_directory(self.checkpoint_dir)
        try:
            torch.empty(0, device=self.device)
        except (RuntimeError, AssertionError, NotImplementedError) as error:
            setting = self.get_params(deep=False)["device"]
            raise ValueError(
                f"device={setting!r} is not usable here ({str(error).splitlines()[0]}). Use "
                f"device='auto' (a GPU when torch sees one, else the CPU) or 'cpu'.") from error

    def _uses_validation(self):
        return bool(self.train_split) or bool(self.validation_fraction)

    def _check_fit_params(self, fit_params):
        """Refuse fit parameters sk_cnn's own networks cannot take (skorch passes
        ``fit(X, y, **fit_params)`` to the module's ``forward``; a user's module may take
        some)."""
        if not fit_params or self.module is not None:
            return
        hint = ""
        if "sample_weight" in fit_params:
            hint = " Weighting samples is not supported" + (
                "; for unbalanced classes use class_weight='balanced'." if is_classifier(self)
                else ".")
        raise TypeError(f"{type(self).__name__}.fit got unexpected keyword argument(s) "
                        f"{sorted(fit_params)}: sk_cnn's networks take only X.{hint}")

    def _parameters_for(self, builder) -> dict:
        """The estimator's values of the parameters a builder names (its keyword-only
        arguments)."""
        return {name: getattr(self, name) for name in keyword_parameters(builder)}

    def _record_built_values(self) -> None:
        """Remember the values of the parameters the network and loss are built from."""
        params = self.get_params(deep=False)
        names = parameters_rebuilding(self._parameter_table, NETWORK)
        # Copies: a list or dict changed in place afterwards is a change too.
        self._built_with = {name: copy.copy(value) if isinstance(value, (list, dict, np.ndarray))
                            else value for name, value in params.items() if name in names}

    def _warn_if_built_with_other_values(self, stacklevel: int) -> None:
        """Warn that partial_fit / warm_start keep the network built with earlier values
        (``stacklevel`` points at the user's call)."""
        built = getattr(self, "_built_with", {})
        changed = [name for name, value in built.items() if not _same(getattr(self, name), value)]
        if changed:
            now = ", ".join(f"{name}={getattr(self, name)!r}" for name in changed)
            then = ", ".join(f"{name}={built[name]!r}" for name in changed)
            warnings.warn(
                f"{now}: changed since fit built the network, the loss and the target "
                f"encoding; partial_fit and warm_start keep training what was built with "
                f"{then}. Fit with warm_start=False to rebuild.", UserWarning,
                stacklevel=stacklevel + 1)

    def _rebuild_after_set_params(self, params: dict) -> None:
        """Rebuild what the parameters just set configure on an initialized estimator: the
        callbacks, and the optimizer (keeping its state, e.g. momentum)."""
        table = self._parameter_table
        if params.keys() & parameters_rebuilding(table, CALLBACKS):
            self.initialize_callbacks()
        if (params.keys() & parameters_rebuilding(table, OPTIMIZER)
                or any(k.startswith("optimizer__") for k in params)):
            old = self.optimizer_
            self.initialize_optimizer()
            if type(old) is type(self.optimizer_):
                state = self.optimizer_.state_dict()
                state["state"] = old.state_dict()["state"]
                self.optimizer_.load_state_dict(state)

    # ------------------------------------------------------------------ tags
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        if tags.estimator_type == "regressor":
            tags.target_tags.multi_output = True
        return tags

    def __sklearn_is_fitted__(self):
        return hasattr(self, "input_shape_") and super().__sklearn_is_fitted__()

    # ------------------------------------------------------------------ fit
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
        X, augmentation = take_augmentation(X, type(self).__name__)
        self._validate_hyperparameters()
        self._check_fit_params(fit_params)
        if self.warm_start and self.__sklearn_is_fitted__():
            self._warn_if_built_with_other_values(stacklevel=2)
            return self._continue_training(X, y, augmentation, resume=True, **fit_params)
        # An error leaves the estimator as it was: a fitted one keeps predicting with its
        # network, not with half of the new fit's attributes or a diverged network. (A
        # KeyboardInterrupt that skorch does not swallow keeps what was trained, as skorch does.)
        before, training = dict(self.__dict__), False
        # skorch trains a module given as an instance in place, fitted before or not.
        instance = (module_snapshot(self.module) if isinstance(self.module, torch.nn.Module)
                    else None)
        try:
            X, y = validate_images(self, X, y, reset=True, **self._target_checks)
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
                self._train(as_tensor(view), y_encoded, augmentation, resume=True, **fit_params)
        except BaseException as error:
            if not (training and isinstance(error, KeyboardInterrupt)):
                self.__dict__.clear()
                self.__dict__.update(before)
                if instance is not None:
                    restore_module(self.module, instance)
            raise
        return self

    def _partial_fit(self, X, y, **fit_params):
        """partial_fit: more epochs on the fitted network (a first fit when unfitted)."""
        if not self.__sklearn_is_fitted__():
            return self.fit(X, y, **fit_params)
        X, augmentation = take_augmentation(X, type(self).__name__)
        self._validate_hyperparameters()
        self._check_fit_params(fit_params)
        self._warn_if_built_with_other_values(stacklevel=3)  # user -> partial_fit -> here
        return self._continue_training(X, y, augmentation, **fit_params)

    def _continue_training(self, X, y, augmentation, resume=False, **fit_params):
        """Train the fitted network on X and y, checked against what the first fit saw."""
        X_tensor = self._validate_predict_data(X)
        check_consistent_length(X_tensor, y)
        y_encoded = self._encode_targets(y)
        snapshot = state_snapshot(self)  # the network trains in place
        try:
            with seeded(self.random_state, self.device, epochs_done=len(self.history)):
                self._train(X_tensor, y_encoded, augmentation, resume=resume, **fit_params)
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

    def _train(self, X, y, augmentation, resume=False, **fit_params):
        X, y = self._training_data(X, y)
        self.augmentation_ = self._augmentation(X, augmentation)
        backup = dict(self.callbacks_).get("backup")
        # A warm_start fit cut short by Ctrl-C keeps its epochs: run again, it is the same call.
        # (An estimator read by sk_cnn.load was not interrupted.)
        call_start = getattr(self, "_interrupted_call_start", None) if resume else None
        try:
            done = 0
            if backup is not None:
                backup.start(self, X, y, augmentation, call_start, resumable=resume)
                done = backup.restore(self) if resume else 0
                if not done and call_start is not None:  # no backup of it: a new call
                    backup.start(self, X, y, augmentation, resumable=resume)
            start = len(self.history)
            epochs = self.max_epochs - done
            if epochs > 0:
                NeuralNet.partial_fit(self, X, y, epochs=epochs, **fit_params)
            completed = self._epochs_completed(start) >= epochs or stopped_early(self)
            self._interrupted_call_start = None if completed else start - done
            if not completed:
                finished = self._epochs_completed(start)
                warnings.warn(TrainingInterruptedWarning(
                    f"Training was interrupted (KeyboardInterrupt) after {finished} of "
                    f"{epochs} epochs; {type(self).__name__} keeps the network trained so far. "
                    f"Scores of this fit (in a grid search or cross-validation, which go on "
                    f"with the next fit) are those of a partly trained network.",
                    finished, epochs), stacklevel=3)  # the caller of fit
            elif backup is not None:
                backup.discard()
        finally:
            self.augmentation_ = self._train_iterator_ = None

    def _epochs_completed(self, start=0):
        """Epochs from history row ``start`` on that ran to their end (an epoch cut short has a
        history row but no training loss, recorded at its end)."""
        return sum("train_loss" in row for row in list(self.history)[start:])

    # ------------------------------------------------------------------ prediction
    def _validate_predict_data(self, X):
        check_is_fitted(self)
        given = getattr(X, "shape", ())[1:]
        images = max(len(given), len(self.input_shape_)) >= 2
        if given and tuple(given) != self.input_shape_ and images:
            # Images of another shape (or flat rows after images): say so in their terms
            # before validate_data's "expecting n features" message (kept for flat rows).
            self._raise_shape_mismatch(given)
        X = validate_images(self, X, reset=False)
        if X.shape[1:] != self.input_shape_:
            self._raise_shape_mismatch(X.shape[1:])
        check_network_input(self, X, self.input_dtype_)
        view = canonical_view(X, self.layout_)
        self._check_tta(images=view.ndim == 4)  # tta may have been set after fit
        return as_tensor(view)

    def _raise_shape_mismatch(self, given):
        raise ValueError(
            f"{type(self).__name__} was fitted on samples of shape {self.input_shape_}, but X has "
            f"samples of shape {tuple(given)}. Resize the images (or reshape the rows) to the "
            f"training shape, or refit{' with warm_start=False' if self.warm_start else ''}.")

    def _sample_shape(self, input_shape=None) -> tuple[int, ...]:
        """One sample's shape as the network sees it (channels first)."""
        shape = self.input_shape_ if input_shape is None else input_shape
        return canonical_view(np.empty((1,) + tuple(shape), np.uint8), self.layout_).shape[1:]

    def _fitted_on_images(self) -> bool:
        """True for a network of images (Conv2d), False for 1-D signals."""
        return len(self._sample_shape()) == 3

    def _check_tta(self, images: bool):
        if self.tta is not None and not images:
            raise ValueError(f"tta={self.tta!r} mirrors images, but {type(self).__name__} "
                             f"works on 1-D signals here; set tta=None.")

    def _run_network(self, X, forward=None, **fit_params):
        """``forward(X)`` (default: the module) under ``mixed_precision``, as float32."""
        with autocast(self.mixed_precision, X.device):
            return (forward or self.module_)(X, **fit_params).float()

    # ------------------------------------------------------------------ summary
    def _summary(self, input_shape, n_outputs) -> ModelSummary:
        """The summary of the fitted network, or before fit of the network this estimator
        would build for samples of ``input_shape`` with ``n_outputs`` outputs."""
        name = type(self).__name__
        if getattr(self, "initialized_", False) and hasattr(self, "input_shape_"):
            if input_shape is not None and _check_input_shape(input_shape) != self.input_shape_:
                raise ValueError(
                    f"This {name} was fitted on samples of shape {self.input_shape_}; its "
                    f"summary is at that shape, got input_shape={tuple(input_shape)}. Leave "
                    f"input_shape out, or summarize an unfitted clone at the other shape.")
            shape, fitted = self.input_shape_, self
        elif input_shape is None:
            raise NotFittedError(
                f"This {name} is not fitted yet, so the shape of its input is unknown. Fit it "
                f"first, or pass the shape of one sample, e.g. summary(input_shape=(32, 32, 3)"
                + (", n_classes=10)." if is_classifier(self) else ")."))
        else:
            shape = _check_input_shape(input_shape)
            fitted = clone(self)
            fitted._set_outputs_before_fit(n_outputs)
            fitted._validate_hyperparameters()  # the errors fit would raise
            fitted.layout_ = resolve_channels((1, *shape), self.channels, self.input_type)
            fitted.input_shape_ = shape
            # On the CPU (nothing is trained), drawing the initial weights without touching
            # the caller's global random generator.
            with torch.random.fork_rng(devices=[]), init_context(fitted, "module"):
                fitted.initialize_module()
        title = f"{name} on samples of shape {shape}" + ("" if fitted is self else " (not fitted)")
        return summarize_module(fitted.module_, (1, *fitted._sample_shape()),
                                input_shape=shape, title=title)

    # ------------------------------------------------------------------ skorch hooks
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
            set_training(self, False)
            X = to_network_input(Xi, self.device)
            # Test-time augmentation: average with mirror (and shifted) images.
            return self._run_network(X, lambda x: tta_logits(self.module_, x, self.tta))


def _same(a, b) -> bool:
    a, b = (os.fspath(v) if isinstance(v, os.PathLike) else v for v in (a, b))
    if isinstance(a, (list, tuple, np.ndarray)) or isinstance(b, (list, tuple, np.ndarray)):
        try:  # (8, 16), [8, 16] and np.array([8, 16]) are the same conv_filters
            return np.array_equal(np.asarray(a, dtype=object), np.asarray(b, dtype=object))
        except ValueError:  # ragged
            return a is b
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return a is b


def _check_input_shape(input_shape) -> tuple[int, ...]:
    try:
        shape = tuple(input_shape)
    except TypeError:
        shape = None
    if (shape is None or not 1 <= len(shape) <= 3
            or not all(isinstance(s, Integral) and not isinstance(s, bool) and s > 0
                       for s in shape)):
        raise ValueError(
            f"input_shape must be the shape of one sample as you would pass it to fit, without "
            f"the samples axis: (length,) for 1-D signals, (height, width), (height, width, "
            f"channels) or (channels, height, width); got {input_shape!r}.")
    return tuple(int(s) for s in shape)
