"""CNNClassifier: a skorch NeuralNetClassifier that builds and trains a CNN from image arrays."""

from __future__ import annotations

from numbers import Real

import numpy as np
import torch
from sklearn.utils._param_validation import (
    Interval,
    StrOptions,
)
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_consistent_length, column_or_1d
from skorch import NeuralNetClassifier
from skorch.callbacks import (
    EarlyStopping,
    EpochScoring,
    EpochTimer,
    PassthroughScoring,
    PrintLog,
    ProgressBar,
)

from .augment import split_augmentation
from .callbacks import (
    StopOnNonFiniteLoss,
    TrainingBackup,
    UnfreezeBackbone,
    encoded_accuracy,
)
from .data import (
    BatchIterator,
    ImageDataset,
    as_tensor,
    canonical_view,
    resolve_channels,
    validate_images,
)
from .fastnet import recipe_callbacks
from .training import CNN_PARAMETER_CONSTRAINTS, CNNTrainingMixin


def _encode(y, classes):
    """Positions of the labels y in classes, refusing labels outside classes."""
    position = {label: i for i, label in enumerate(classes.tolist())}
    unknown = sorted({label for label in y.tolist() if label not in position}, key=str)
    if unknown:
        raise ValueError(f"y has labels {unknown[:10]} that are not among the classes "
                         f"{classes.tolist()[:10]}.")
    return np.fromiter((position[label] for label in y.tolist()), dtype=np.int64, count=len(y))


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
    architecture : {"plain", "airbench"}, default="plain"
        The network built when ``module`` and ``backbone`` are None. "plain" is the lesson's
        CNN described by the parameters below. "airbench" is the fast CIFAR-10 network of
        :mod:`sk_cnn.fastnet` (a frozen patch-whitening 2x2 convolution initialized from the
        training images, then per entry of ``conv_filters`` a conv-pool-BatchNorm-activation-
        conv-BatchNorm-activation block, global max pool, bias-free linear layer); it uses
        ``conv_filters`` and ``activation`` and ignores the other architecture parameters.
        Its whole training recipe is ``CNNClassifier(**sk_cnn.fastnet.airbench_params())``.
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
    lr_schedule : {"cosine", "onecycle", "step", "warmup_linear"} or None, default="cosine"
        Learning-rate schedule over ``max_epochs``: cosine annealing to 0 (measured best in
        benchmarks/defaults.py), one-cycle (warm-up then annealing, stepped every batch), a step
        decay by 10 at each third of training, airbench's linear warm-up from 0.2 ``lr`` over
        23% of the steps then linear decay to 0.07 ``lr`` (stepped every batch), or None for a
        constant learning rate.
    weight_averaging : {"lookahead"} or None, default=None
        "lookahead": every 5 steps move an average of the weights toward the network's and
        continue from the average, with a decay rising to 0.77 over training; the fitted
        network is the average (:class:`sk_cnn.callbacks.Lookahead`). Not saved by
        ``checkpoint_dir``: a resumed fit restarts the average from the restored weights.
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
    tta : {"flip", "flip_translate"} or None, default=None
        Test-time augmentation in ``predict``/``predict_proba``/``score``: "flip" averages the
        network's outputs for each image and its left-right mirror image; "flip_translate" also
        averages in the flip averages of the image shifted by one pixel up-left and down-right
        (6 forward passes; not supported by ``export_onnx``/``export_program``). Not used for
        the internal validation split.
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
        **CNN_PARAMETER_CONSTRAINTS,
        "class_weight": [StrOptions({"balanced"}), dict, None],
        "label_smoothing": [Interval(Real, 0, 1, closed="left")],
        "tta": [StrOptions({"flip", "flip_translate"}), None],
    }

    def __init__(
        self,
        module=None,
        *,
        architecture="plain",
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
        weight_averaging=None,
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
        self.architecture = architecture
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
        self.weight_averaging = weight_averaging
        self.validation_fraction = validation_fraction
        self.early_stopping = early_stopping
        self.checkpoint_dir = checkpoint_dir
        self.class_weight = class_weight
        self.label_smoothing = label_smoothing
        self.tta = tta
        self.channels = channels
        self.random_state = random_state

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
        if self.tta is not None and view.ndim != 4:
            raise ValueError(f"tta={self.tta!r} mirrors images; X holds 1-D signals.")
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
        # Before early stopping: at the end of training the lookahead average is put in place
        # first, then early stopping may restore its best weights.
        callbacks.extend(recipe_callbacks(self))
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
