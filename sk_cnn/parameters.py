"""The constructor parameters every sk_cnn CNN estimator shares, stated once.

:class:`CNNParametersMixin` stores them (its ``__init__`` is the one place they are listed);
:func:`shared_parameters` gives an estimator class the combined signature and docstring, so
``inspect.signature``, ``help()``, scikit-learn's repr and the API docs show every parameter;
``CNN_PARAMETER_CONSTRAINTS`` states what values each takes, and
``CNNParametersMixin._validate_hyperparameters`` checks them and how they combine at the start
of fit.
"""

from __future__ import annotations

import inspect
import os
import re
import textwrap
from numbers import Integral, Real

import torch
from sklearn.utils._param_validation import (
    Interval,
    Options,
    StrOptions,
    validate_parameter_constraints,
)

from .backup import check_backup_directory
from .callbacks import LR_SCHEDULES
from .data import CHANNEL_OPTIONS, INPUT_TYPES, BatchIterator, ImageDataset
from .fastnet import ARCHITECTURES
from .modules import ACTIVATIONS
from .optim import OPTIMIZERS
from .precision import MIXED_PRECISION_OPTIONS

SHARED_PARAMETERS_DOC = textwrap.dedent("""\
    architecture : {"plain", "airbench"}, default="plain"
        The network built when ``module`` and ``backbone`` are None. "plain" is the lesson's
        CNN described by the parameters below. "airbench" is the fast CIFAR-10 network of
        :mod:`sk_cnn.fastnet` (a frozen patch-whitening 2x2 convolution initialized from the
        training images, then per entry of ``conv_filters`` a conv-pool-BatchNorm-activation-
        conv-BatchNorm-activation block, global max pool, bias-free linear layer); it uses
        ``conv_filters`` and ``activation`` and ignores the other architecture parameters.
        Its whole training recipe is ``CNNClassifier(**sk_cnn.fastnet.airbench_params())``.
    conv_filters : tuple of int, default=(32, 64, 128, 256)
        Output channels of each convolution block; one block per entry. Four blocks by
        measurement (benchmarks/defaults.py): on a 5,000-image CIFAR-10 subset (10 epochs) the
        fourth block gained 9.5 points of test accuracy over 32-64-128 (0.625 against 0.530,
        without dropout) for 1.3x the fit time, and matched it on digits.
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
        5-7 points more accurate at the same number of epochs; set False for the lesson's
        plain CNN).
    global_pool : {"avg", "max", "flatten"}, default="avg"
        How the last feature map becomes one vector: global average or max pooling, or
        flattening (the classic dense head; depends on the image size).
    dense_units : tuple of int, default=()
        Hidden dense layers of the head, before the output layer.
    dropout : float in [0, 1), default=0.0
        Dropout before each dense layer of the head. Off by default, by measurement
        (benchmarks/defaults.py): after batch-normalized convolutions and global average
        pooling, dropout 0.5 cost 4.2 points of test accuracy on a 5,000-image CIFAR-10
        subset (10 epochs) and 0.15 on digits (20 epochs); 0.2 cost 1.5 and 0.2 (measured
        with conv_filters=(32, 64, 128)).
    conv_dropout : float in [0, 1), default=0.0
        Channel dropout after every convolution block's activation.
    backbone : str or None, default=None
        None trains the plain CNN above. The name of a torchvision classification model
        among :func:`sk_cnn.backbones.available_backbones` ("resnet18", "resnet50",
        "mobilenet_v2", "mobilenet_v3_small", "efficientnet_b0", "convnext_tiny", ...) builds
        that network instead, with a new output layer
        (``dropout`` before it). Inputs with 1 or more than 3 channels are
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
    optimizer : {"adam", "adamw", "sgd", "rmsprop", "muon"} or torch optimizer class, \
default="adam"
        The optimizer; a class is used as in skorch (its options through ``optimizer__``).
        "muon" (:class:`sk_cnn.optim.Muon`) gives the convolution filters Muon steps
        (orthogonalized momentum; their own learning rate 0.05 and momentum 0.6, set with
        ``optimizer__muon_lr`` and ``optimizer__muon_momentum``) and the other parameters
        SGD steps with ``lr``, ``momentum``, ``nesterov`` and ``weight_decay``.
    lr : float or None, default=None
        Learning rate; None takes the measured default of the optimizer (adam, adamw: 2e-3;
        sgd: 5e-2; rmsprop: 1e-3; classes: skorch's 0.01). "muon" takes sgd's 5e-2 for its
        SGD part (not measured separately).
    momentum : float, default=0.9
        Momentum of SGD (also the SGD part of "muon") and RMSprop.
    nesterov : bool, default=False
        Nesterov momentum for SGD (also the SGD part of "muon").
    weight_decay : float, default=0.0
        L2 penalty on the weights, passed to the optimizer (decoupled for "adamw").
    batch_size : int, default=64
        Samples per training batch (-1: the whole training set). 64 by measurement
        (benchmarks/defaults.py, with the default network): 2.1 points above 128 on a
        5,000-image CIFAR-10 subset (0.646 against 0.625, 10 epochs) and 0.3 on digits (20
        epochs), in no more fit time.
    max_epochs : int, default=20
        Passes over the training data.
    lr_schedule : {"cosine", "onecycle", "step", "warmup_linear"} or None, default="cosine"
        Learning-rate schedule over ``max_epochs``: cosine annealing to 0 (measured against
        a constant rate in benchmarks/defaults.py), one-cycle (warm-up then annealing,
        stepped every batch), a step decay by 10 at each third of training, airbench's linear
        warm-up from 0.2 ``lr`` over 23% of the steps then linear decay to 0.07 ``lr``
        (stepped every batch), or None for a constant learning rate. Each ``partial_fit``
        call (and each ``warm_start`` fit) runs the whole schedule again over its own epochs.
    weight_averaging : {"lookahead"} or None, default=None
        "lookahead": every 5 steps move an average of the weights toward the network's and
        continue from the average, with a decay rising to 0.77 over training; the fitted
        network is the average (:class:`sk_cnn.callbacks.Lookahead`). Not saved by
        ``checkpoint_dir``: a resumed fit restarts the average from the restored weights.
    validation_fraction : float in [0, 1) or None, default=0.1
        Fraction of the training data held out (stratified for classifiers) to record the
        validation loss and score per epoch in ``history``; 0 or None disables it. Ignored
        when ``train_split`` is given. The held-out part is never augmented.
    early_stopping : int or None, default=None
        Stop when the validation loss has not improved for this many epochs and restore the
        best weights. Needs a validation split.
    checkpoint_dir : str, path or None, default=None
        Back up the training state (weights, optimizer, history, random generators) there
        after every epoch. A fit that was interrupted (crash, kill) resumes from the last
        completed epoch when it is run again with the same directory; the backup is deleted
        when training completes; a backup of another model or of other data is refused.
        Exact resumption needs an int ``random_state``; give parallel fits a folder each.
    tta : {"flip", "flip_translate"} or None, default=None
        Test-time augmentation in ``predict``/``predict_proba``/``score``: "flip" averages the
        network's outputs for each image and its left-right mirror image; "flip_translate" also
        averages in the flip averages of the image shifted by one pixel up-left and down-right
        (6 forward passes; not supported by ``export_onnx``/``export_program``). For a
        regressor, only right when the target does not change under these. Not used for the
        internal validation split.
    channels : {"auto", "first", "last"}, default="auto"
        Where the channel axis is. Images (4-D): "last" for ``(N, H, W, C)`` (Keras, PIL),
        "first" for ``(N, C, H, W)``; "auto" picks the axis of size 1, 3 or 4 and raises when
        unclear. Signals with channels (3-D, ``input_type="signal"``): "auto" and "first" mean
        ``(N, C, L)`` (aeon, PyTorch), "last" means ``(N, L, C)`` (Keras, tslearn).
    input_type : {"auto", "image", "signal"}, default="auto"
        What a sample is. "auto": 2-D X holds 1-D signals ``(N, L)``, 3-D X grayscale images
        ``(N, H, W)``, 4-D X images with channels. "signal" reads 3-D X as signals with
        channels (trained with ``Conv1d``); "image" refuses 2-D X (reshape flat rows of pixels
        with :class:`~sk_cnn.ImageReshaper`).
    random_state : int, RandomState instance or None, default=None
        Seed of weight initialization, shuffling, dropout, the validation split and
        augmentation (unless the augmenter has its own). Two fits with the same int give
        identical predictions on the CPU. torch's global random state is left untouched.
    device : {"auto", "cpu", "cuda", ...} or torch.device, default="auto"
        Where to train and predict; "auto" means CUDA when available. A model trained on a GPU
        predicts on a CPU-only machine after loading. On a CUDA device the training data
        (kept in its own dtype, e.g. uint8) is copied to the GPU once per fit when it takes at
        most half of the free GPU memory; batches are then sliced and augmented there.
    mixed_precision : {"auto", "bfloat16"} or None, default=None
        "bfloat16" runs the network's forward passes (training and prediction) under
        ``torch.autocast`` in bfloat16; weights, gradients, the optimizer and the loss stay
        float32. "auto" does so where the device computes bfloat16 natively (NVIDIA Ampere or
        newer, CPUs with AVX512_BF16 or AMX: :func:`sk_cnn.precision.has_fast_bfloat16`) and
        stays float32 elsewhere, where bfloat16 is emulated and can be slower than float32.
        On the team's 2-core AMD EPYC machines (AVX512_BF16) bfloat16 makes a bare training
        step 1.78x (airbench network) and 1.45x (the default plain CNN) faster
        (``benchmarks/cpu_checks.py bfloat16``). The network's outputs are then rounded to
        bfloat16 (about three significant digits) before the float32 loss: regression targets
        that need more precision want None. Exports compute in float32.
    verbose : int, default=1
        1 prints skorch's table of losses and scores per epoch; 2 also shows a tqdm
        progress bar over the batches of each epoch (skorch's ``ProgressBar``, on stderr);
        0 is silent.
    train_split : callable or None, default=None
        skorch's splitter of internal validation data; None lets ``validation_fraction`` decide.
    iterator_train, iterator_valid : class, default=BatchIterator
        Batch iterators; :class:`sk_cnn.data.BatchIterator` slices whole batches from memory.
        Use ``torch.utils.data.DataLoader`` for per-sample datasets.
    dataset : class, default=ImageDataset
        Dataset wrapping the image tensor and the encoded targets.
""")

SHARED_ATTRIBUTES_DOC = textwrap.dedent("""\
    input_shape_ : tuple of int
        Shape of one training sample as given (e.g. ``(32, 32, 3)``); prediction needs the same.
    input_dtype_ : numpy.dtype
        dtype of the training data as given (uint8 images are scaled to [0, 1]).
    layout_ : {"first", "last"} or None
        Where the channel axis of the training data was (None: no channel axis).
    n_features_in_ : int
        ``X.shape[1]`` of the training data.
    module_ : torch.nn.Module
        The trained network.
""")


def _fill(doc: str, placeholder: str, text: str, owner: str) -> str:
    """Replace the line ``{placeholder}`` of a docstring by text, at that line's indent (any
    indent: Python 3.13 dedents docstrings)."""
    match = re.search(r"^([ \t]*)\{" + placeholder + r"\}\n", doc or "", re.MULTILINE)
    if match is None:
        raise TypeError(f"{owner}'s docstring needs a {{{placeholder}}} line.")
    return doc[:match.start()] + textwrap.indent(text, match.group(1)) + doc[match.end():]


class CNNParametersMixin:
    """Store the architecture, training and input parameters shared by sk_cnn's estimators.

    Put it (through :class:`~sk_cnn.training.CNNTrainingMixin`) left of the skorch base
    class; the skorch parameters are passed on to skorch's ``__init__``.
    """

    def __init__(
        self,
        module=None,
        *,
        architecture="plain",
        conv_filters=(32, 64, 128, 256),
        kernel_size=3,
        stride=1,
        padding="same",
        pooling="max",
        activation="relu",
        batch_norm=True,
        global_pool="avg",
        dense_units=(),
        dropout=0.0,
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
        batch_size=64,
        max_epochs=20,
        lr_schedule="cosine",
        weight_averaging=None,
        validation_fraction=0.1,
        early_stopping=None,
        checkpoint_dir=None,
        tta=None,
        channels="auto",
        input_type="auto",
        random_state=None,
        device="auto",
        mixed_precision=None,
        verbose=1,
        train_split=None,
        iterator_train=BatchIterator,
        iterator_valid=BatchIterator,
        dataset=ImageDataset,
        **kwargs,
    ):
        super().__init__(
            module,
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
        self.tta = tta
        self.channels = channels
        self.input_type = input_type
        self.random_state = random_state
        self.mixed_precision = mixed_precision

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


def _without_entries(doc: str, names) -> str:
    """numpydoc parameter entries of ``doc`` (unindented) without those of ``names``."""
    entries = re.split(r"^(?=\S)", doc, flags=re.MULTILINE)
    return "".join(e for e in entries if e.split(" :", 1)[0].strip() not in names)


def shared_parameters(cls):
    """Class decorator: give ``cls`` the shared parameters' signature and documentation.

    ``cls.__init__`` lists the estimator's own parameters and passes ``**kwargs`` on to
    :class:`CNNParametersMixin`; it may also list a shared parameter to give it another
    default (and document it itself). Its ``__signature__`` becomes ``module``, the shared
    parameters, its own, the skorch base class's other keyword parameters and ``**kwargs``;
    scikit-learn reads it to tell changed parameters in the repr. The ``{shared_parameters}``
    line of the class docstring is replaced by :data:`SHARED_PARAMETERS_DOC`, less the
    entries the class overrides.
    """
    own = inspect.signature(cls.__init__).parameters
    shared = inspect.signature(CNNParametersMixin.__init__).parameters
    ends = ("self", "module", "kwargs")
    overridden = [name for name in own if name in shared and name not in ends]
    parameters = ([own["self"], own["module"]]
                  + [own.get(name, p) for name, p in shared.items() if name not in ends]
                  + [p for name, p in own.items() if name not in ends and name not in shared])
    # skorch's own keyword parameters (callbacks, warm_start, classes, ...) reach it through
    # **kwargs; listing them keeps scikit-learn's repr to the parameters a user changed.
    for base in cls.__mro__:
        if base.__module__.startswith("skorch.") and "__init__" in vars(base):
            listed = {p.name for p in parameters}
            parameters += [p.replace(kind=p.KEYWORD_ONLY)
                           for name, p in inspect.signature(base.__init__).parameters.items()
                           if name not in listed and name not in ends
                           and p.default is not p.empty]
    parameters.append(own["kwargs"])
    cls.__init__.__signature__ = inspect.Signature(parameters)
    doc = _fill(cls.__doc__, "shared_parameters",
                _without_entries(SHARED_PARAMETERS_DOC, overridden), cls.__name__)
    cls.__doc__ = _fill(doc, "shared_attributes", SHARED_ATTRIBUTES_DOC, cls.__name__)
    return cls


# Constraints of the parameters every sk_cnn CNN estimator has (scikit-learn's declarative
# validation, checked at the start of fit).
CNN_PARAMETER_CONSTRAINTS = {
    "architecture": [StrOptions(set(ARCHITECTURES))],
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
    "weight_averaging": [StrOptions({"lookahead"}), None],
    "validation_fraction": [Interval(Real, 0, 1, closed="left"), None],
    "early_stopping": [Interval(Integral, 1, None, closed="left"), None],
    "checkpoint_dir": [str, os.PathLike, None],
    "tta": [StrOptions({"flip", "flip_translate"}), None],
    "channels": [StrOptions(set(CHANNEL_OPTIONS))],
    "input_type": [StrOptions(set(INPUT_TYPES))],
    "random_state": ["random_state"],
    "device": [StrOptions({"auto"}), str, torch.device],
    "mixed_precision": [StrOptions(set(MIXED_PRECISION_OPTIONS)), None],
    "verbose": ["verbose"],
}
