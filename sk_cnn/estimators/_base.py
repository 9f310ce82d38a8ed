"""What sk_cnn's estimators share: the fit / partial_fit flow.

``fit`` reads the augmentation (the contract of :mod:`sk_cnn.preprocessing._augmentation`),
validates the parameters and the data, learns the input layout and the targets, builds the
network, optimizer and callbacks from the estimator's parameters (each builder takes the
parameters it names) and trains on batches sliced from the in-memory data.
"""

from __future__ import annotations

import warnings
from numbers import Integral

import numpy as np
import torch
from sklearn.base import clone, is_classifier
from sklearn.exceptions import NotFittedError
from sklearn.utils import TransformerTags
from sklearn.utils.validation import check_consistent_length, check_is_fitted
from skorch import NeuralNet

from .._skorch import SkorchConventionsMixin, init_context, stopped_early
from ..exceptions import TrainingInterruptedWarning
from ..networks._summary import ModelSummary, summarize_module
from ..preprocessing._augmentation import take_augmentation
from ..preprocessing._deferred import take_normalization
from ..preprocessing._input import (
    canonical_view,
    check_network_input,
    resolve_channels,
    validate_images,
)
from ..training._augment import check_spec_fits
from ..training._batching import BatchIterator, ImageDataset, as_tensor
from ..training._frozen_features import frozen_features, uses_frozen_features
from ..training._rollback import module_snapshot, restore_module, restore_state, state_snapshot
from ..training._sample_weight import check_sample_weight
from ..training._seeding import call_seed, seeded
from ._distributed import DataParallelMixin
from ._embedding import EmbeddingMixin
from ._parameters import ParametersMixin
from ._steps import SkorchStepsMixin


class CNNEstimatorMixin(ParametersMixin, DataParallelMixin, SkorchStepsMixin,
                        SkorchConventionsMixin, EmbeddingMixin):
    """The fit flow of sk_cnn's estimators; put it left of the skorch class.

    Its parameters' checks come from :class:`~._parameters.ParametersMixin`, skorch's hooks
    from :class:`~._steps.SkorchStepsMixin` (and for ``strategy="ddp"`` from
    :class:`~._distributed.DataParallelMixin`), scikit-learn's conventions for a skorch net from
    :class:`~sk_cnn._skorch.SkorchConventionsMixin`, ``transform`` (the network's feature
    vectors) from :class:`~._embedding.EmbeddingMixin`.

    An estimator built on it has a ``_parameter_table`` and supplies what differs between
    classification and regression: ``_fit_targets(y, sample_weight)`` (learn and encode the
    targets in fit), ``_encode_targets(y)`` (encode them later), ``_n_outputs()`` (units of
    the output layer) and ``_scoring_callbacks()``.
    """

    #: Passed to scikit-learn's validate_data with y in fit (the regressor takes 2-D float y).
    _target_checks: dict = {}

    def _target_checks_for(self, y) -> dict:
        """What validate_data checks of this y in fit (the classifier takes a 2-D y of labels
        as a multi-label indicator matrix)."""
        return self._target_checks

    # ------------------------------------------------------------------ tags
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        # transform: the network's feature vectors, always float32.
        tags.transformer_tags = TransformerTags(preserves_dtype=["float32"])
        # Several targets: the regressor's columns, the classifier's multi-label indicators.
        tags.target_tags.multi_output = True
        if tags.classifier_tags is not None:
            tags.classifier_tags.multi_label = True
        return tags

    def __sklearn_is_fitted__(self):
        return hasattr(self, "input_shape_") and super().__sklearn_is_fitted__()

    # ------------------------------------------------------------------ fit
    def fit(self, X, y, sample_weight=None, **fit_params):
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
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights of the samples: each multiplies its sample's loss, in
            training and in the validation loss. Only their ratios matter (they are rescaled
            to mean 1); a weight of 0 leaves the sample out of the gradient. Routed by a
            Pipeline or a search after ``set_fit_request(sample_weight=True)``.
        **fit_params : dict
            Passed to the module's ``forward`` (skorch's convention).

        Returns
        -------
        self : object
            The fitted estimator.
        """
        X, normalization = take_normalization(X)
        X, augmentation = take_augmentation(X, type(self).__name__)
        self._validate_hyperparameters()
        self._check_fit_params(fit_params)
        self._warn_if_freezing_random_weights()
        self._join_process_group()
        if self.warm_start and self.__sklearn_is_fitted__():
            self._warn_if_built_with_other_values(stacklevel=2)
            return self._continue_training(X, y, augmentation, normalization, resume=True,
                                           sample_weight=sample_weight, **fit_params)
        # An error leaves the estimator as it was: a fitted one keeps predicting with its
        # network, not with half of the new fit's attributes or a diverged network. (A
        # KeyboardInterrupt that skorch does not swallow keeps what was trained, as skorch does.)
        before, training = dict(self.__dict__), False
        # skorch trains a module given as an instance in place, fitted before or not.
        instance = (module_snapshot(self.module) if isinstance(self.module, torch.nn.Module)
                    else None)
        try:
            X, y = validate_images(self, X, y, reset=True, **self._target_checks_for(y))
            check_network_input(self, X)
            weights = self._check_sample_weight(sample_weight, X)
            y_encoded = self._fit_targets(y, weights)
            self.layout_ = resolve_channels(X.shape, self.channels, self.input_type)
            view = canonical_view(X, self.layout_)
            self._check_tta(images=view.ndim == 4)
            self.input_shape_ = tuple(X.shape[1:])
            # With a deferred normalization, the dtype of the normalized batches: the fitted
            # estimator is then the same as after an in-memory normalization.
            self.input_dtype_ = X.dtype if normalization is None else np.dtype(
                normalization.dtype)
            with seeded(self._training_seed(), self.device):
                # Drawn once per fit, so a resumed fit (checkpoint_dir) splits the same way.
                self.validation_seed_ = int(torch.randint(2**31 - 1, ()).item())
                self.history_ = None  # a new History: skorch would clear the old one in place
                self._interrupted_call_start = None
                self.initialize()
                training = True
                self._train(as_tensor(view), y_encoded, augmentation, resume=True,
                            sample_weight=weights, normalization=normalization, **fit_params)
        except BaseException as error:
            if not (training and isinstance(error, KeyboardInterrupt)):
                self.__dict__.clear()
                self.__dict__.update(before)
                if instance is not None:
                    restore_module(self.module, instance)
            raise
        return self

    def _warn_if_freezing_random_weights(self):
        if self.backbone is not None and self.freeze is not None and self.weights is None:
            warnings.warn(
                f"freeze={self.freeze!r} with weights=None freezes randomly initialized "
                f"layers: they never learn, and the layers after them train on random "
                f"features. Give pretrained weights (weights='DEFAULT' downloads torchvision's) "
                f"or leave freeze=None.", UserWarning, stacklevel=3)

    def _check_sample_weight(self, sample_weight, X):
        """The fit's weights (:func:`~sk_cnn.training._sample_weight.check_sample_weight`);
        they reach the loss through sk_cnn's BatchIterator."""
        weights = check_sample_weight(sample_weight, X)
        iterators = {"iterator_train": self.iterator_train, "iterator_valid": self.iterator_valid}
        for name, iterator in iterators.items():
            if weights is not None and not (isinstance(iterator, type)
                                            and issubclass(iterator, BatchIterator)):
                raise ValueError(
                    f"sample_weight reaches the loss through sk_cnn's BatchIterator; {name} is "
                    f"{iterator!r}. Use {name}=BatchIterator (the default), or weigh the "
                    f"samples in your own criterion.")
        return weights

    def _partial_fit(self, X, y, sample_weight=None, **fit_params):
        """partial_fit: more epochs on the fitted network (a first fit when unfitted)."""
        if not self.__sklearn_is_fitted__():
            return self.fit(X, y, sample_weight=sample_weight, **fit_params)
        X, normalization = take_normalization(X)
        X, augmentation = take_augmentation(X, type(self).__name__)
        self._validate_hyperparameters()
        self._check_fit_params(fit_params)
        self._warn_if_built_with_other_values(stacklevel=3)  # user -> partial_fit -> here
        self._join_process_group()
        return self._continue_training(X, y, augmentation, normalization,
                                       sample_weight=sample_weight, **fit_params)

    def _continue_training(self, X, y, augmentation, normalization=None, resume=False,
                           sample_weight=None, **fit_params):
        """Train the fitted network on X and y, checked against what the first fit saw."""
        X_tensor = self._validate_predict_data(X)
        check_consistent_length(X_tensor, y)
        weights = self._check_sample_weight(sample_weight, X_tensor)
        y_encoded = self._encode_targets(y)
        snapshot = state_snapshot(self)  # the network trains in place
        try:
            with seeded(self._training_seed(), self.device, epochs_done=len(self.history)):
                self._train(X_tensor, y_encoded, augmentation, resume=resume,
                            sample_weight=weights, normalization=normalization, **fit_params)
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

    def _train(self, X, y, augmentation, resume=False, sample_weight=None, normalization=None,
               **fit_params):
        X, y = self._training_data(X, y)
        self.augmentation_ = self._augmentation(X, augmentation)
        # get_dataset hands the deferred normalization to the dataset of X (SkorchStepsMixin).
        self._normalization_of = None if normalization is None else (X, normalization)
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
                data = self._frozen_backbone_features(X, normalization, fit_params)
                if data is not X:  # the network's forward runs its head on the features
                    self.module_.takes_features = True
                # get_dataset hands the weights to the dataset of the data (SkorchStepsMixin).
                self._sample_weight_of = None if sample_weight is None else (
                    data, sample_weight.to(data.device))
                NeuralNet.partial_fit(self, data, y, epochs=epochs, **fit_params)
                self._sync_after_training()
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
            self.augmentation_ = self._train_iterator_ = self._sample_weight_of = None
            self._normalization_of = None
            self._release_training_network()
            if getattr(self.module_, "takes_features", False):
                self.module_.takes_features = False
                self.module_.train(self.module_.training)  # the backbone's modes again

    def _frozen_backbone_features(self, X, normalization, fit_params):
        """X, or the frozen backbone's features of X when the head alone trains on fixed
        inputs (:func:`~sk_cnn.training._frozen_features.uses_frozen_features`): the
        backbone then runs once per fit, or once per data set with ``memory``."""
        if fit_params or not uses_frozen_features(
                self.module_, freeze=self.freeze, unfreeze_at_epoch=self.unfreeze_at_epoch,
                augmentation=self.augmentation_):
            return X
        return frozen_features(self.module_, X, batch_size=self.batch_size, device=self.device,
                               mixed_precision=self.mixed_precision, memory=self.memory,
                               normalization=normalization)

    def _epochs_completed(self, start=0):
        """Epochs from history row ``start`` on that ran to their end (an epoch cut short has a
        history row but no training loss, recorded at its end)."""
        return sum("train_loss" in row for row in list(self.history)[start:])

    # ------------------------------------------------------------------ prediction
    def _predict_dataset(self, X):
        """What prediction iterates over: the validated tensor of X, or an
        :class:`~sk_cnn.training._batching.ImageDataset` that normalizes each batch when X
        carries a deferred normalization (``ImageNormalizer`` of a memory map)."""
        X, normalization = take_normalization(X)
        X_tensor = self._validate_predict_data(X)
        if normalization is None:
            return X_tensor
        return ImageDataset(X_tensor, normalization=normalization)

    def _validate_predict_data(self, X):
        """X validated against the fit, as a tensor of the canonical view (no copy); a deferred
        normalization (see :meth:`_predict_dataset`) is applied to the whole of it."""
        X, normalization = take_normalization(X)
        X_tensor = self._validate_unnormalized(X)
        return X_tensor if normalization is None else normalization(X_tensor)

    def _validate_unnormalized(self, X):
        check_is_fitted(self)
        # The parameters prediction uses, which may have been set after fit.
        self._validate_parameters_named(("batch_size", "tta", "mixed_precision", "device"))
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
        # A view of one value: no memory for samples of any size.
        sample = np.broadcast_to(np.uint8(0), (1,) + tuple(shape))
        return canonical_view(sample, self.layout_).shape[1:]

    def _fitted_on_images(self) -> bool:
        """True for a network of images (Conv2d), False for 1-D signals."""
        return len(self._sample_shape()) == 3

    def _check_tta(self, images: bool):
        if self.tta is not None and not images:
            raise ValueError(f"tta={self.tta!r} mirrors images, but {type(self).__name__} "
                             f"works on 1-D signals here; set tta=None.")

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
