"""What sk_cnn knows about an estimator parameter, and what it derives from its table.

Each estimator's ``__init__`` lists its parameters and their defaults (an editor and a type
checker see them); its table (:mod:`._parameter_table`) holds, per parameter, the values it
takes (scikit-learn's declarative constraints), its documentation and what a change on a
fitted estimator rebuilds. From the table come the ``_parameter_constraints`` that ``fit``
checks, the ``Parameters`` section of the docstring, and the groups below; a test checks that
signature, table, constraints and docstring agree.
"""

from __future__ import annotations

import copy
import inspect
import os
import re
import textwrap
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from numbers import Integral

import numpy as np
import torch
from sklearn.base import clone
from sklearn.utils._param_validation import validate_parameter_constraints

from ..training._backup import check_backup_directory
from ..training._distributed import is_rank_0

#: What a change of the parameter on a fitted estimator rebuilds. NETWORK: what ``fit``
#: builds from the data (network, loss, target encoding); ``partial_fit`` and a ``warm_start``
#: fit keep it and warn. OPTIMIZER and CALLBACKS: rebuilt by ``set_params``.
NETWORK, OPTIMIZER, CALLBACKS = "network", "optimizer", "callbacks"


@dataclass(frozen=True)
class Parameter:
    """One constructor parameter of an sk_cnn estimator.

    Parameters
    ----------
    type : str
        Its type in numpydoc's words (``'int'``, ``'{"max", "avg"} or None'``).
    constraints : list or "no_validation"
        scikit-learn's parameter constraints, checked at the start of ``fit``;
        "no_validation" for skorch's parameters that skorch checks itself.
    doc : str
        What it does (numpydoc's description, unindented).
    rebuilds : {"network", "optimizer", "callbacks"} or None, default=None
        What a change on a fitted estimator rebuilds; None: the value is read whenever it
        is used.
    loads : {"value", "class", "default"}, default="value"
        What :func:`sk_cnn.load` accepts from a file: data the constraints allow ("value");
        that or a class of the file format's fixed allowlist ("class": losses, optimizers,
        the batch iterator); or only the signature's default ("default": the parameter can
        reach a code path, such as a module, callbacks or compiler options).
    """

    type: str
    constraints: list | str
    doc: str
    rebuilds: str | None = None
    loads: str = "value"


def parameter_constraints(table: dict[str, Parameter]) -> dict:
    """scikit-learn's ``_parameter_constraints`` of an estimator with this table."""
    return {name: parameter.constraints for name, parameter in table.items()}


def parameters_rebuilding(table: dict[str, Parameter], what: str) -> frozenset[str]:
    """The names of the parameters whose change rebuilds ``what`` (see :data:`NETWORK`)."""
    return frozenset(name for name, p in table.items() if p.rebuilds == what)


def keyword_parameters(function: Callable) -> tuple[str, ...]:
    """The keyword-only parameters of a builder: the estimator parameters it takes."""
    return tuple(name for name, p in inspect.signature(function).parameters.items()
                 if p.kind is p.KEYWORD_ONLY)


def default_text(value) -> str:
    """How the docstring shows a default value (classes by name)."""
    if isinstance(value, type):
        return value.__name__
    if isinstance(value, str):
        return f'"{value}"'
    return repr(value)


def document_parameters(table: dict[str, Parameter], attributes: str):
    """Class decorator: put the table's entries into the class docstring.

    The ``{parameters}`` line of the docstring becomes one numpydoc entry per parameter of
    ``__init__`` (in the signature's order, with the signature's default; ``**kwargs`` says
    where skorch's prefixed parameters go), the ``{attributes}`` line ``attributes``.
    """
    def decorate(cls):
        signature = inspect.signature(cls.__init__).parameters
        entries = []
        for name, parameter in signature.items():
            if name == "self":
                continue
            if parameter.kind is parameter.VAR_KEYWORD:
                entries.append(f"**{name} : dict\n" + textwrap.indent(
                    "skorch's prefixed parameters (``optimizer__``, ``module__``, "
                    "``iterator_train__``, ``callbacks__``, ...).", "    "))
                continue
            entry = table[name]
            text = textwrap.fill(" ".join(entry.doc.split()), width=88)
            entries.append(f"{name} : {entry.type}, default={default_text(parameter.default)}\n"
                           + textwrap.indent(text, "    "))
        doc = _fill(cls.__doc__, "parameters", "\n".join(entries), cls.__name__)
        cls.__doc__ = _fill(doc, "attributes", attributes.strip(), cls.__name__)
        return cls

    return decorate


def _fill(doc: str, placeholder: str, text: str, owner: str) -> str:
    """Replace the line ``{placeholder}`` of a docstring by text, at that line's indent (any
    indent: Python 3.13 dedents docstrings)."""
    match = re.search(r"^([ \t]*)\{" + placeholder + r"\}\n", doc or "", re.MULTILINE)
    if match is None:
        raise TypeError(f"{owner}'s docstring needs a {{{placeholder}}} line.")
    return doc[:match.start()] + textwrap.indent(text + "\n", match.group(1)) + doc[match.end():]


class ParametersMixin:
    """How an sk_cnn estimator checks its parameters, passes them to the builders, and keeps
    track of what they built (see :class:`~._base.CNNEstimatorMixin`)."""

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
        if self.checkpoint_dir is not None and is_rank_0(self.strategy):
            check_backup_directory(self.checkpoint_dir)
        try:
            torch.empty(0, device=self.device)
        except (RuntimeError, AssertionError, NotImplementedError) as error:
            setting = self.get_params(deep=False)["device"]
            raise ValueError(
                f"device={setting!r} is not usable here ({str(error).splitlines()[0]}). Use "
                f"device='auto' (a GPU when torch sees one, else the CPU) or 'cpu'.") from error

    def _check_settable(self, params: dict) -> None:
        """Refuse, before anything changes, values that ``fit`` would refuse (``set_params``
        on a fitted estimator is all or nothing): they are tried on an unfitted copy."""
        trial = clone(self)
        trial.set_params(**params)
        trial._validate_hyperparameters()

    def _validate_parameters_named(self, names) -> None:
        """Check the constraints of the parameters ``names`` (those a prediction uses)."""
        params = self.get_params(deep=False)
        validate_parameter_constraints({name: self._parameter_constraints[name] for name in names},
                                       {name: params[name] for name in names},
                                       caller_name=type(self).__name__)

    def _uses_validation(self):
        return bool(self.train_split) or bool(self.validation_fraction)

    def _check_fit_params(self, fit_params):
        """Refuse fit parameters sk_cnn's own networks cannot take (skorch passes
        ``fit(X, y, **fit_params)`` to the module's ``forward``; a user's module may take
        some)."""
        if not fit_params or self.module is not None:
            return
        raise TypeError(f"{type(self).__name__}.fit got unexpected keyword argument(s) "
                        f"{sorted(fit_params)}: sk_cnn's networks take only X (and fit "
                        f"sample_weight).")

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
