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
from sklearn.base import is_classifier
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
from .parameter_docs import SHARED_ATTRIBUTES_DOC, SHARED_PARAMETERS_DOC
from .precision import MIXED_PRECISION_OPTIONS


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
    line of the class docstring is replaced by
    :data:`sk_cnn.parameter_docs.SHARED_PARAMETERS_DOC`, less the entries the class overrides.
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


def check_fit_params(estimator, fit_params):
    """Refuse fit parameters sk_cnn's own networks cannot take.

    skorch passes ``fit(X, y, **fit_params)`` to the module's ``forward``; only a user's own
    ``module`` can take any.
    """
    if not fit_params or estimator.module is not None:
        return
    name = type(estimator).__name__
    hint = ""
    if "sample_weight" in fit_params:
        hint = " Weighting samples is not supported" + (
            "; for unbalanced classes use class_weight='balanced'." if is_classifier(estimator)
            else ".")
    raise TypeError(f"{name}.fit got unexpected keyword argument(s) {sorted(fit_params)}: "
                    f"sk_cnn's networks take only X.{hint}")
