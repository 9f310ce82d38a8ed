"""CNNClassifier: a skorch NeuralNetClassifier that builds and trains a CNN from image arrays."""

from __future__ import annotations

import contextlib
import os
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import (
    Interval,
    Options,
    StrOptions,
    validate_parameter_constraints,
)
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_consistent_length, check_is_fitted, column_or_1d
from skorch import NeuralNet, NeuralNetClassifier
from skorch.callbacks import (
    EarlyStopping,
    EpochScoring,
    EpochTimer,
    LRScheduler,
    PassthroughScoring,
    PrintLog,
    ProgressBar,
)
from skorch.dataset import unpack_data
from torch.utils.data import Subset

from .augment import augment_batch, split_augmentation
from .backbones import build_backbone, load_matching, load_weights
from .callbacks import (
    OneCycleSchedule,
    StopOnNonFiniteLoss,
    TrainingBackup,
    UnfreezeBackbone,
    encoded_accuracy,
)
from .data import (
    CHANNEL_OPTIONS,
    BatchIterator,
    ImageDataset,
    as_tensor,
    canonical_view,
    resolve_channels,
    to_network_input,
    validate_images,
)
from .modules import ACTIVATIONS, build_cnn

# Optimizer name -> (class, default learning rate, keyword arguments taken from the estimator).
# The default learning rates come from benchmarks/defaults.py (table in benchmarks/README.md).
OPTIMIZERS = {
    "adam": (torch.optim.Adam, 2e-3, ()),
    "adamw": (torch.optim.AdamW, 2e-3, ()),
    "sgd": (torch.optim.SGD, 5e-2, ("momentum", "nesterov")),
    "rmsprop": (torch.optim.RMSprop, 1e-3, ("momentum",)),
}
LR_SCHEDULES = ("cosine", "onecycle", "step")


def resolve_device(device):
    """Map ``"auto"`` to ``"cuda"`` when a GPU is visible, else ``"cpu"``; keep other values."""
    if isinstance(device, str) and device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def _private_state(name):
    """A property storing skorch's state attribute ``name`` under a private name.

    skorch's ``__init__`` sets ``history_``, ``initialized_`` and ``virtual_params_``, which
    scikit-learn forbids (``__init__`` may only store parameters); private names are allowed.
    Like a plain attribute, it raises AttributeError until first set.
    """
    private = "_" + name.rstrip("_")

    def get(self):
        try:
            return self.__dict__[private]
        except KeyError:
            raise AttributeError(name) from None

    def set(self, value):
        self.__dict__[private] = value

    return property(get, set, doc=f"skorch's ``{name}``.")


_PRIVATE_STATE = ("_history", "_initialized", "_virtual_params", "_params_to_validate")


def _encode(y, classes):
    """Positions of the labels y in classes, refusing labels outside classes."""
    position = {label: i for i, label in enumerate(classes.tolist())}
    unknown = sorted({label for label in y.tolist() if label not in position}, key=str)
    if unknown:
        raise ValueError(f"y has labels {unknown[:10]} that are not among the classes "
                         f"{classes.tolist()[:10]}.")
    return np.fromiter((position[label] for label in y.tolist()), dtype=np.int64, count=len(y))


class CNNClassifier(NeuralNetClassifier):
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
    conv_filters : tuple of int, default=(32, 64, 128)
        Output channels of each convolution block; one block per entry.
    kernel_size : int, default=3
        Side of the square convolution kernels.
    stride : int, default=1
        Stride of the convolutions (2 or more when ``pooling=None``).
    padding : {"same", "valid"} or int, default="same"
        Convolution padding; "same" keeps the spatial size before pooling.
    pooling : {"max", "avg"} or None, default="max"
        2x2 pooling after every block; None downsamples with stride-2 convolutions instead.
    activation : {"relu", "gelu", "leaky_relu", "elu", "tanh"}, default="relu"
        Activation after every convolution and hidden dense layer.
    batch_norm : bool, default=True
        Batch normalization after every convolution (measured in benchmarks/defaults.py:
        faster, more accurate training; set False for the lesson's plain CNN).
    global_pool : {"avg", "max", "flatten"}, default="avg"
        How the last feature map becomes one vector: global average or max pooling, or
        flattening (the classic dense head; depends on the image size).
    dense_units : tuple of int, default=()
        Hidden dense layers of the head, before the output layer.
    dropout : float in [0, 1), default=0.5
        Dropout before each dense layer of the head.
    conv_dropout : float in [0, 1), default=0.0
        Channel dropout after every convolution block's activation.
    backbone : str or None, default=None
        None trains the plain CNN above. The name of a torchvision classification model
        ("resnet18", "resnet50", "mobilenet_v2", "mobilenet_v3_small", "efficientnet_b0",
        "convnext_tiny", ...) builds that network instead, with a new head for ``classes_``
        (``dropout`` before its output layer). Inputs with 1 or more than 3 channels are
        adapted at the first convolution (pretrained RGB kernels summed, or repeated and
        rescaled). Needs images, not 1-D signals.
    weights : None, str or path, default=None
        Initial weights: None (random), a torchvision weights name ("DEFAULT",
        "IMAGENET1K_V1", ...) found in the local torch hub cache (never downloaded: a missing
        file raises an error naming it and where to put it), or a state-dict file (read with
        ``weights_only=True``), e.g. written by :func:`sk_cnn.save_weights`. Entries whose
        name or shape does not fit (an old head) are left at their initialization. Also works
        for the plain CNN.
    freeze : None, "backbone" or int, default=None
        With a backbone: train everything (None), only the head ("backbone"), or freeze the
        first k stages. Frozen parameters do not change, and frozen batch norm layers keep
        their running statistics.
    unfreeze_at_epoch : int or None, default=None
        Unfreeze the whole backbone when this epoch (1-based) begins.
    backbone_lr_factor : float, default=1.0
        The backbone's learning rate is ``lr * backbone_lr_factor`` (discriminative
        fine-tuning); the head keeps ``lr``.
    input_size : int, (int, int) or None, default=None
        With a backbone, images are resized to this size on the fly (one batched bilinear
        interpolation); None keeps their size, upsampling images smaller than 32 pixels.
    optimizer : {"adam", "adamw", "sgd", "rmsprop"} or torch optimizer class, default="adam"
        The optimizer; a class is used as in skorch (its options through ``optimizer__``).
    lr : float or None, default=None
        Learning rate; None takes the measured default of the optimizer (adam, adamw: 2e-3;
        sgd: 5e-2; rmsprop: 1e-3; classes: skorch's 0.01).
    momentum : float, default=0.9
        Momentum of SGD and RMSprop.
    nesterov : bool, default=False
        Nesterov momentum for SGD.
    weight_decay : float, default=0.0
        L2 penalty on the weights, passed to the optimizer (decoupled for "adamw").
    batch_size : int, default=128
        Samples per training batch (-1: the whole training set).
    max_epochs : int, default=20
        Passes over the training data.
    lr_schedule : {"cosine", "onecycle", "step"} or None, default="cosine"
        Learning-rate schedule over ``max_epochs``: cosine annealing to 0 (measured best in
        benchmarks/defaults.py), one-cycle (warm-up then annealing, stepped every batch), a step
        decay by 10 at each third of training, or None for a constant learning rate.
    validation_fraction : float in [0, 1) or None, default=0.1
        Fraction of the training data held out (stratified) to record validation loss and
        accuracy per epoch in ``history``; 0 or None disables it. Ignored when ``train_split``
        is given. The held-out part is never augmented.
    early_stopping : int or None, default=None
        Stop when the validation loss has not improved for this many epochs and restore the
        best weights. Needs a validation split.
    checkpoint_dir : str, path or None, default=None
        Back up the training state (weights, optimizer, history, random generators) there
        after every epoch. A fit that was interrupted (crash, kill) resumes from the last
        completed epoch when it is run again with the same directory; the backup is deleted
        when training completes. Exact resumption needs an int ``random_state``.
    class_weight : dict, "balanced" or None, default=None
        Weights of the classes in the loss, as in scikit-learn.
    label_smoothing : float in [0, 1), default=0.0
        Label smoothing of the cross-entropy loss.
    tta : {"flip"} or None, default=None
        Test-time augmentation in ``predict``/``predict_proba``/``score``: "flip" averages the
        network's outputs for each image and its left-right mirror image. Not used for the
        internal validation split.
    channels : {"auto", "first", "last"}, default="auto"
        Layout of 4-D input: "last" for ``(N, H, W, C)`` (Keras, PIL), "first" for
        ``(N, C, H, W)``; "auto" picks the axis of size 1, 3 or 4 and raises when unclear.
    random_state : int, RandomState instance or None, default=None
        Seed of weight initialization, shuffling, dropout, the validation split and
        augmentation (unless the augmenter has its own). Two fits with the same int give
        identical predictions on the CPU. torch's global random state is left untouched.
    device : {"auto", "cpu", "cuda", ...} or torch.device, default="auto"
        Where to train and predict; "auto" means CUDA when available. A model trained on a GPU
        predicts on a CPU-only machine after loading.
    verbose : int, default=1
        1 prints skorch's table of losses and accuracies per epoch; 2 also shows a tqdm
        progress bar over the batches of each epoch (skorch's ``ProgressBar``, on stderr);
        0 is silent.
    criterion : torch loss class, default=torch.nn.CrossEntropyLoss
        The loss; it receives the network's logits.
    train_split : callable or None, default=None
        skorch's splitter of internal validation data; None lets ``validation_fraction`` decide.
    iterator_train, iterator_valid : class, default=BatchIterator
        Batch iterators; :class:`sk_cnn.data.BatchIterator` slices whole batches from memory.
        Use ``torch.utils.data.DataLoader`` for per-sample datasets.
    dataset : class, default=ImageDataset
        Dataset wrapping the image tensor and the encoded targets.
    **kwargs : dict
        Any other skorch parameter (``callbacks``, ``warm_start``, ``optimizer__...``, ...).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels, sorted.
    input_shape_ : tuple of int
        Shape of one training sample as given (e.g. ``(32, 32, 3)``); prediction needs the same.
    input_dtype_ : numpy.dtype
        dtype of the training data as given (uint8 images are scaled to [0, 1]).
    n_features_in_ : int
        ``X.shape[1]`` of the training data.
    module_ : torch.nn.Module
        The trained network.
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
        "conv_filters": ["array-like"],
        "kernel_size": [Interval(Integral, 1, None, closed="left")],
        "stride": [Interval(Integral, 1, None, closed="left")],
        "padding": [StrOptions({"same", "valid"}), Interval(Integral, 0, None, closed="left")],
        "pooling": [StrOptions({"max", "avg"}), None],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "batch_norm": ["boolean"],
        "global_pool": [StrOptions({"avg", "max", "flatten"})],
        "dense_units": ["array-like"],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "conv_dropout": [Interval(Real, 0, 1, closed="left")],
        "backbone": [str, None],
        "weights": [str, os.PathLike, None],
        "freeze": [StrOptions({"backbone"}), Interval(Integral, 0, None, closed="left"), None],
        "unfreeze_at_epoch": [Interval(Integral, 1, None, closed="left"), None],
        "backbone_lr_factor": [Interval(Real, 0, None, closed="left")],
        "input_size": [Interval(Integral, 1, None, closed="left"), tuple, list, None],
        "optimizer": [StrOptions(set(OPTIMIZERS)), type, callable],
        "lr": [Interval(Real, 0, None, closed="neither"), None],
        "momentum": [Interval(Real, 0, 1, closed="left")],
        "nesterov": ["boolean"],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left"), Options(Integral, {-1})],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "lr_schedule": [StrOptions(set(LR_SCHEDULES)), None],
        "validation_fraction": [Interval(Real, 0, 1, closed="left"), None],
        "early_stopping": [Interval(Integral, 1, None, closed="left"), None],
        "checkpoint_dir": [str, os.PathLike, None],
        "class_weight": [StrOptions({"balanced"}), dict, None],
        "label_smoothing": [Interval(Real, 0, 1, closed="left")],
        "tta": [StrOptions({"flip"}), None],
        "channels": [StrOptions(set(CHANNEL_OPTIONS))],
        "random_state": ["random_state"],
        "device": [StrOptions({"auto"}), str, torch.device, None],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        module=None,
        *,
        conv_filters=(32, 64, 128),
        kernel_size=3,
        stride=1,
        padding="same",
        pooling="max",
        activation="relu",
        batch_norm=True,
        global_pool="avg",
        dense_units=(),
        dropout=0.5,
        conv_dropout=0.0,
        backbone=None,
        weights=None,
        freeze=None,
        unfreeze_at_epoch=None,
        backbone_lr_factor=1.0,
        input_size=None,
        optimizer="adam",
        lr=None,
        momentum=0.9,
        nesterov=False,
        weight_decay=0.0,
        batch_size=128,
        max_epochs=20,
        lr_schedule="cosine",
        validation_fraction=0.1,
        early_stopping=None,
        checkpoint_dir=None,
        class_weight=None,
        label_smoothing=0.0,
        tta=None,
        channels="auto",
        random_state=None,
        device="auto",
        verbose=1,
        criterion=torch.nn.CrossEntropyLoss,
        train_split=None,
        iterator_train=BatchIterator,
        iterator_valid=BatchIterator,
        dataset=ImageDataset,
        **kwargs,
    ):
        super().__init__(
            module,
            criterion=criterion,
            optimizer=optimizer,
            lr=lr,
            max_epochs=max_epochs,
            batch_size=batch_size,
            iterator_train=iterator_train,
            iterator_valid=iterator_valid,
            dataset=dataset,
            train_split=train_split,
            verbose=verbose,
            device=device,
            **kwargs,
        )
        self.conv_filters = conv_filters
        self.kernel_size = kernel_size
        self.stride = stride
        self.padding = padding
        self.pooling = pooling
        self.activation = activation
        self.batch_norm = batch_norm
        self.global_pool = global_pool
        self.dense_units = dense_units
        self.dropout = dropout
        self.conv_dropout = conv_dropout
        self.backbone = backbone
        self.weights = weights
        self.freeze = freeze
        self.unfreeze_at_epoch = unfreeze_at_epoch
        self.backbone_lr_factor = backbone_lr_factor
        self.input_size = input_size
        self.momentum = momentum
        self.nesterov = nesterov
        self.weight_decay = weight_decay
        self.lr_schedule = lr_schedule
        self.validation_fraction = validation_fraction
        self.early_stopping = early_stopping
        self.checkpoint_dir = checkpoint_dir
        self.class_weight = class_weight
        self.label_smoothing = label_smoothing
        self.tta = tta
        self.channels = channels
        self.random_state = random_state

    history_ = _private_state("history_")
    initialized_ = _private_state("initialized_")
    virtual_params_ = _private_state("virtual_params_")

    def _get_param_names(self):
        # skorch lists every attribute without a trailing underscore; its private state is none
        # of the constructor's parameters.
        return [name for name in super()._get_param_names() if name not in _PRIVATE_STATE]

    # ------------------------------------------------------------------ device "auto"
    # skorch reads ``self.device`` wherever it moves tensors, so the attribute resolves "auto";
    # ``get_params`` reports the value the user set, so clone and grid search keep "auto".
    @property
    def device(self):
        """The torch device in use (``"auto"`` resolved); ``get_params`` shows the setting."""
        return resolve_device(self.__dict__.get("device", "auto"))

    @device.setter
    def device(self, value):
        self.__dict__["device"] = value

    def get_params(self, deep=True, **kwargs):
        """Get the parameters, as scikit-learn's ``get_params`` (with skorch's callbacks).

        Parameters
        ----------
        deep : bool, default=True
            Also return the parameters of callbacks and other sub-objects.
        **kwargs : dict
            Passed on to skorch.

        Returns
        -------
        params : dict
            Parameter names mapped to their values.
        """
        params = super().get_params(deep=deep, **kwargs)
        params["device"] = self.__dict__.get("device", "auto")
        return params

    def __setstate__(self, state):
        setting = state.get("device")
        state = {**state, "device": resolve_device(setting)}
        super().__setstate__(state)
        if isinstance(setting, str) and setting == "auto":
            self.__dict__["device"] = "auto"

    # ------------------------------------------------------------------ validation
    def _validate_hyperparameters(self):
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
                                      or self.backbone_lr_factor != 1.0):
            raise ValueError("freeze, unfreeze_at_epoch and backbone_lr_factor need a "
                             "backbone, e.g. backbone='resnet18'.")
        if self.early_stopping is not None and not self._uses_validation():
            raise ValueError(
                "early_stopping needs a validation split: set validation_fraction > 0 (for "
                "example 0.1) or pass train_split.")

    def _uses_validation(self):
        return bool(self.train_split) or bool(self.validation_fraction)

    def _validate_fit_data(self, X, y):
        (X, y), spec = validate_images(self, X, y, reset=True)
        check_classification_targets(y)
        classes = np.unique(y) if self.classes is None else np.asarray(self.classes)
        y_encoded = _encode(y, classes)
        if len(classes) < 2:
            raise ValueError(
                f"{type(self).__name__} needs samples of at least 2 classes in y; y has one class "
                f"({classes[0]!r}).")
        return X, classes, y_encoded, spec

    def _validate_predict_data(self, X):
        check_is_fitted(self)
        X, _ = split_augmentation(X)
        given = getattr(X, "shape", ())[1:]
        if len(given) >= 2 and tuple(given) != self.input_shape_:
            # Images of the wrong size: say so before validate_data's "n features" message.
            self._raise_shape_mismatch(given)
        X, _ = validate_images(self, X, reset=False)
        if X.shape[1:] != self.input_shape_:
            self._raise_shape_mismatch(X.shape[1:])
        return as_tensor(canonical_view(X, self.layout_ or "auto"))

    def _raise_shape_mismatch(self, given):
        raise ValueError(
            f"{type(self).__name__} was fitted on samples of shape {self.input_shape_}, but X has "
            f"samples of shape {tuple(given)}. Resize the images (or reshape the rows) to the "
            f"training shape, or refit.")

    def __sklearn_is_fitted__(self):
        return hasattr(self, "input_shape_") and super().__sklearn_is_fitted__()

    # ------------------------------------------------------------------ fit
    def fit(self, X, y, **fit_params):
        """Build the network for X and y, then train it for ``max_epochs``.

        Parameters
        ----------
        X : array-like of shape (n_samples, H, W), (n_samples, H, W, C), (n_samples, C, H, W) \
or (n_samples, n_features)
            Training images (uint8 or float) or 1-D signals; possibly marked for augmentation
            by :class:`ImageAugmenter`.
        y : array-like of shape (n_samples,)
            Class labels of any type.
        **fit_params : dict
            Passed to the module's ``forward`` (skorch's convention).

        Returns
        -------
        self : CNNClassifier
            The fitted classifier.
        """
        self._validate_hyperparameters()
        X, classes, y_encoded, spec = self._validate_fit_data(X, y)
        view = canonical_view(X, self.channels)  # "auto" raises here when the layout is unclear
        self.layout_ = resolve_channels(X.shape, self.channels)
        if self.tta == "flip" and view.ndim != 4:
            raise ValueError("tta='flip' mirrors images; X holds 1-D signals.")
        self.input_shape_ = tuple(X.shape[1:])
        self.input_dtype_ = X.dtype
        self.classes_inferred_ = classes
        weights = (None if self.class_weight is None else compute_class_weight(
            self.class_weight, classes=classes, y=classes[y_encoded]))
        self.class_weight_ = weights
        with self._seeded():
            # Drawn once per fit, so a resumed fit (checkpoint_dir) splits the same way.
            self.validation_seed_ = int(torch.randint(2**31 - 1, ()).item())
            if not (self.warm_start and self.initialized_):
                self.initialize()
            self._train(as_tensor(view), torch.from_numpy(y_encoded), spec, resume=True,
                        **fit_params)
        return self

    def partial_fit(self, X, y, classes=None, **fit_params):
        """Train for ``max_epochs`` more epochs, keeping the weights (fit first when unfitted).

        Parameters
        ----------
        X : array-like
            Images of the shape seen in the first fit.
        y : array-like of shape (n_samples,)
            Labels among ``classes_``.
        classes : None
            Ignored; pass ``classes`` to the constructor to fix the label set.
        **fit_params : dict
            Passed to the module's ``forward``.

        Returns
        -------
        self : CNNClassifier
            The classifier.
        """
        if not self.__sklearn_is_fitted__():
            return self.fit(X, y, **fit_params)
        _, spec = split_augmentation(X)
        X_tensor = self._validate_predict_data(X)
        y = column_or_1d(y, warn=True)
        check_consistent_length(X_tensor, y)
        y_encoded = _encode(y, self.classes_)
        with self._seeded():
            self._train(X_tensor, torch.from_numpy(y_encoded), spec, **fit_params)
        return self

    @contextlib.contextmanager
    def _seeded(self):
        """Seed torch for this fit without touching the caller's global random state."""
        if self.random_state is None:
            yield
            return
        seed = (int(self.random_state) if isinstance(self.random_state, Integral)
                else int(check_random_state(self.random_state).randint(2**31)))
        devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            yield

    def _train(self, X, y, spec, resume=False, **fit_params):
        generator = None
        if spec is not None and spec.random_state is not None:
            generator = torch.Generator().manual_seed(spec.random_state)
        self.augmentation_ = None if spec is None or spec.is_identity() else (spec, generator)
        if self.augmentation_ is not None and X.ndim == 3 and (spec.vertical_flip or spec.rotation):
            raise ValueError("vertical_flip and rotation need images, not 1-D signals.")
        backup = dict(self.callbacks_).get("backup")
        try:
            done = backup.restore(self) if (resume and backup is not None) else 0
            start = len(self.history)
            epochs = self.max_epochs - done
            if epochs > 0:
                NeuralNet.partial_fit(self, X, y, epochs=epochs, **fit_params)
            if backup is not None and self._training_completed(start, epochs):
                backup.discard()
        finally:
            self.augmentation_ = None

    def _training_completed(self, start, epochs):
        """True unless the fit was cut short by a KeyboardInterrupt (which skorch swallows)."""
        stopper = dict(self.callbacks_).get("early_stopping")
        stopped_early = stopper is not None and stopper.misses_ >= stopper.patience
        return len(self.history) - start >= epochs or stopped_early

    # ------------------------------------------------------------------ skorch hooks
    def check_data(self, X, y):
        """Do nothing: ``fit`` validated and encoded the data before skorch sees it."""

    def initialize_module(self):
        """Build sk_cnn's CNN for the fitted input shape and classes (or skorch's module)."""
        if self.module is not None:
            return super().initialize_module()
        sample = canonical_view(np.empty((1,) + self.input_shape_, np.uint8),
                                self.layout_ or "auto")
        if self.backbone is not None:
            if sample.ndim != 4:
                raise ValueError(f"backbone={self.backbone!r} needs images; X holds 1-D signals "
                                 f"of shape {self.input_shape_}.")
            module = build_backbone(
                self.backbone, n_outputs=len(self.classes_), in_channels=sample.shape[1],
                dropout=self.dropout, weights=self.weights, image_size=sample.shape[2:],
                input_size=None if self.input_size is None else (
                    self.input_size if isinstance(self.input_size, Integral)
                    else tuple(self.input_size)))
            module.freeze(self.freeze)
        else:
            module = build_cnn(
                in_channels=sample.shape[1], n_outputs=len(self.classes_),
                input_size=sample.shape[2:], conv_filters=tuple(self.conv_filters),
                kernel_size=self.kernel_size, stride=self.stride, padding=self.padding,
                pooling=self.pooling, activation=self.activation, batch_norm=self.batch_norm,
                global_pool=self.global_pool, dense_units=tuple(self.dense_units),
                dropout=self.dropout, conv_dropout=self.conv_dropout)
            if self.weights is not None:
                load_matching(module, load_weights(self.weights), self.weights)
        if sample.ndim == 4:
            module = module.to(memory_format=torch.channels_last)
        self.module_ = module
        return self

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

    def initialize_optimizer(self, triggered_directly=None):
        """Create the optimizer from its name, with per-optimizer default learning rates."""
        args, kwargs = self.get_params_for_optimizer("optimizer", self.get_all_learnable_params())
        optimizer, default_lr, taken = OPTIMIZERS.get(
            self.optimizer if isinstance(self.optimizer, str) else None,
            (self.optimizer, 0.01, ()))
        if kwargs.get("lr") is None:
            kwargs["lr"] = default_lr
        if self.weight_decay:
            kwargs.setdefault("weight_decay", self.weight_decay)
        for name in taken:
            kwargs.setdefault(name, getattr(self, name))
        if self.backbone is not None and self.backbone_lr_factor != 1.0:
            backbone = {id(p) for p in self.module_.backbone_parameters()}
            params = [p for group in args[0] for p in group["params"]]
            args = ([{"params": [p for p in params if id(p) in backbone],
                      "lr": kwargs["lr"] * self.backbone_lr_factor},
                     {"params": [p for p in params if id(p) not in backbone]}],)
        if optimizer is torch.optim.SGD and not kwargs.get("momentum"):
            kwargs["nesterov"] = False  # torch refuses Nesterov without momentum
        self.optimizer_ = optimizer(*args, **kwargs)
        return self

    @property
    def _default_callbacks(self):
        callbacks = [
            ("epoch_timer", EpochTimer()),
            ("train_loss", PassthroughScoring(name="train_loss", on_train=True)),
            ("train_acc", EpochScoring(encoded_accuracy, name="train_acc", on_train=True,
                                       lower_is_better=False)),
            ("valid_loss", PassthroughScoring(name="valid_loss")),
            ("valid_acc", EpochScoring(encoded_accuracy, name="valid_acc",
                                       lower_is_better=False)),
        ]
        schedule = self._lr_scheduler()
        if schedule is not None:
            callbacks.append(("lr_scheduler", schedule))
        if isinstance(self.verbose, Real) and self.verbose >= 2:
            # batch_size=-1 (one batch) would give the bar a negative total: count instead.
            callbacks.append(("progress_bar", ProgressBar(
                batches_per_epoch="count" if self.batch_size == -1 else "auto")))
        if self.early_stopping is not None:
            callbacks.append(("early_stopping", EarlyStopping(
                monitor="valid_loss", patience=self.early_stopping, load_best=True)))
        if self.unfreeze_at_epoch is not None:
            callbacks.append(("unfreeze", UnfreezeBackbone(self.unfreeze_at_epoch)))
        callbacks.append(("non_finite_loss", StopOnNonFiniteLoss()))
        callbacks.append(("print_log", PrintLog()))
        if self.checkpoint_dir is not None:  # last: saves the complete history row
            callbacks.append(("backup", TrainingBackup(self.checkpoint_dir)))
        return callbacks

    def _lr_scheduler(self):
        # Also called by get_params/set_params before validation: tolerate any parameter value.
        schedule = self.lr_schedule if isinstance(self.lr_schedule, str) else None
        if schedule == "cosine":
            return LRScheduler(policy="CosineAnnealingLR", T_max=self.max_epochs)
        if schedule == "step":
            epochs = self.max_epochs if isinstance(self.max_epochs, Integral) else 3
            return LRScheduler(policy="StepLR", step_size=max(1, epochs // 3), gamma=0.1)
        if schedule == "onecycle":
            return OneCycleSchedule()
        return None

    def get_split_datasets(self, X, y=None, **fit_params):
        """Split off the stratified ``validation_fraction`` (unless ``train_split`` is given)."""
        if self.train_split is not None:
            return super().get_split_datasets(X, y, **fit_params)
        dataset = self.get_dataset(X, y)
        if not self.validation_fraction:
            return dataset, None
        indices = np.arange(len(dataset))
        y_np = y.numpy()
        seed = getattr(self, "validation_seed_", None)
        counts = np.bincount(y_np)
        n_valid = int(np.ceil(self.validation_fraction * len(indices)))
        stratify = y_np if counts[counts > 0].min() >= 2 and n_valid >= len(counts) else None
        if len(indices) - n_valid < 1:
            return dataset, None
        train, valid = train_test_split(indices, test_size=n_valid, stratify=stratify,
                                        random_state=seed)
        return Subset(dataset, np.sort(train)), Subset(dataset, np.sort(valid))

    def get_iterator(self, dataset, training=False):
        """skorch's iterator, shuffled for training unless ``iterator_train__shuffle`` says no."""
        if training and "shuffle" not in self.get_params_for("iterator_train"):
            kwargs = self.get_params_for("iterator_train")
            kwargs.setdefault("batch_size", self.batch_size)
            if kwargs["batch_size"] == -1:
                kwargs["batch_size"] = len(dataset)
            return self.iterator_train(dataset, shuffle=True, **kwargs)
        return super().get_iterator(dataset, training=training)

    def infer(self, x, **fit_params):
        """Run the network on a raw batch (converted to float32 on the device first)."""
        return self.module_(to_network_input(x, self.device), **fit_params)

    def train_step_single(self, batch, **fit_params):
        """One forward/backward pass on a training batch, augmented when the data was marked."""
        self._set_training(True)
        Xi, yi = unpack_data(batch)
        Xi = to_network_input(Xi, self.device)
        if self.augmentation_ is not None:
            spec, generator = self.augmentation_
            Xi = augment_batch(Xi, spec, generator)
        y_pred = self.module_(Xi, **fit_params)
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
            logits = self.module_(X)
            if self.tta == "flip":  # test-time augmentation: average with the mirror image
                logits = (logits + self.module_(X.flip(-1))) / 2
            return logits

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

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        return tags
