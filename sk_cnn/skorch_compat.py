"""Make a skorch net follow scikit-learn's conventions, and resolve ``device="auto"``."""

from __future__ import annotations

import copy
import os
import warnings

import numpy as np
import torch
from sklearn.base import BaseEstimator


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




# The parameters sk_cnn's default callbacks and optimizer are built from (see set_params), and
# the names skorch mistakes for components it can re-initialize.
_CALLBACK_PARAMS = frozenset({"lr_schedule", "max_epochs", "weight_averaging", "early_stopping",
                              "unfreeze_at_epoch", "verbose", "checkpoint_dir", "batch_size"})
_OPTIMIZER_PARAMS = frozenset({"lr", "optimizer", "momentum", "nesterov", "weight_decay",
                               "backbone_lr_factor"})
_COMPONENT_NAMES = frozenset({"optimizer", "dataset", "iterator_train", "iterator_valid"})
# The parameters the network, the loss and the target encoding are built from at fit; a
# partial_fit or warm_start fit keeps what they built (see warn_if_built_with_other_values).
_BUILD_PARAMS = ("module", "architecture", "backbone", "weights", "input_size", "freeze",
                 "conv_filters", "kernel_size", "stride", "padding", "pooling", "activation",
                 "batch_norm", "global_pool", "dense_units", "dropout", "conv_dropout",
                 "criterion", "class_weight", "label_smoothing", "scale_target", "classes",
                 "channels", "input_type")


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


def record_build_params(net) -> None:
    """Remember the values of the parameters the network and loss are built from."""
    params = net.get_params(deep=False)
    # Copies: a list or dict changed in place afterwards is a change too.
    net._built_with = {name: copy.copy(value) if isinstance(value, (list, dict, np.ndarray))
                       else value for name, value in params.items() if name in _BUILD_PARAMS}


def warn_if_built_with_other_values(net, stacklevel: int = 2) -> None:
    """Warn that partial_fit / warm_start keep the network built with earlier values.

    Parameters
    ----------
    net : CNNClassifier or CNNRegressor
        A fitted estimator about to train more.
    stacklevel : int, default=2
        Passed to ``warnings.warn`` (1 names this function, 2 its caller, ...): the frame of
        the user's call.
    """
    built = getattr(net, "_built_with", {})
    changed = [name for name, value in built.items() if not _same(getattr(net, name), value)]
    if changed:
        now = ", ".join(f"{name}={getattr(net, name)!r}" for name in changed)
        then = ", ".join(f"{name}={built[name]!r}" for name in changed)
        warnings.warn(
            f"{now}: changed since fit built the network, the loss and the target encoding; "
            f"partial_fit and warm_start keep training what was built with {then}. Fit with "
            f"warm_start=False to rebuild.", UserWarning, stacklevel=stacklevel)


class SkorchConventionsMixin:
    """For a skorch net: ``__init__`` stores parameters only, and ``device="auto"`` works.

    skorch's ``__init__`` sets ``history_``, ``initialized_`` and ``virtual_params_``, which
    scikit-learn forbids; they are kept under private names. skorch reads ``self.device``
    wherever it moves tensors, so the attribute resolves "auto", while ``get_params`` reports
    the value the user set, so clone and grid search keep "auto" and a model trained on a GPU
    loads on a CPU-only machine.
    """

    history_ = _private_state("history_")
    initialized_ = _private_state("initialized_")
    virtual_params_ = _private_state("virtual_params_")

    def _get_param_names(self):
        # skorch lists every attribute without a trailing underscore; private ones (skorch's
        # state, sk_cnn's bookkeeping between calls) are none of the constructor's parameters.
        return [name for name in super()._get_param_names() if not name.startswith("_")]

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

    def set_params(self, **params):
        """Set parameters; on a fitted estimator, rebuild what they configure.

        skorch applies ``lr`` and ``optimizer__*`` to every parameter group alike and builds
        the callbacks once, so a later ``partial_fit`` or ``warm_start`` fit would run with
        flattened learning rates and the old schedule. Here the optimizer (keeping its
        state, e.g. momentum) and the callbacks are rebuilt from the new values.

        Parameters
        ----------
        **params : dict
            Estimator parameters.

        Returns
        -------
        self : object
            The estimator.
        """
        initialized = getattr(self, "initialized_", False) and hasattr(self, "optimizer_")
        # skorch treats these names as components of the optimizer, dataset and iterators; on
        # an initialized net it then fails ("Something went wrong"). They are read when
        # training starts, so they are plain attributes here.
        plain = {key: params.pop(key) for key in list(params) if initialized and (
            key in _COMPONENT_NAMES or key.split("__", 1)[0] in _COMPONENT_NAMES - {"optimizer"})}
        for key, value in plain.items():
            setattr(self, key, value)
        super().set_params(**params)
        params.update(plain)
        if not initialized:
            return self
        for key, value in params.items():
            if key.startswith("optimizer__"):  # skorch only sets the optimizer's groups
                setattr(self, key, value)
        if params.keys() & _CALLBACK_PARAMS:
            self.initialize_callbacks()
        if params.keys() & _OPTIMIZER_PARAMS or any(k.startswith("optimizer__") for k in params):
            old = self.optimizer_
            self.initialize_optimizer()
            if type(old) is type(self.optimizer_):
                state = self.optimizer_.state_dict()
                state["state"] = old.state_dict()["state"]
                self.optimizer_.load_state_dict(state)
        return self

    def __repr__(self, N_CHAR_MAX=700):
        # scikit-learn's repr, ``CNNClassifier(max_epochs=3)``: the parameters set to other
        # values than their defaults, as in a Pipeline's repr. skorch's shows only the module
        # (``clf.summary()`` and ``clf.module_`` show the network).
        return BaseEstimator.__repr__(self, N_CHAR_MAX=N_CHAR_MAX)

    def __setstate__(self, state):
        setting = state.get("device")
        state = {**state, "device": resolve_device(setting)}
        super().__setstate__(state)
        if isinstance(setting, str) and setting == "auto":
            self.__dict__["device"] = "auto"
