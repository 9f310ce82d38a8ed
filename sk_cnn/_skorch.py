"""sk_cnn's layer over skorch: scikit-learn's conventions for a skorch net, and the one place
that uses what skorch keeps private.

skorch's private API used here, and nowhere else in sk_cnn: the ``_default_callbacks`` hook,
``_set_training``, ``_current_init_context``, ``_get_predict_nonlinearity``, the
``_validate_params`` check of unknown arguments (and its ``_params_to_validate``), and the
state that early stopping carries between epochs (``misses_``, ...). The lowest skorch that
``pyproject.toml`` admits is tested in CI (``make test-skorch-floor``).
"""

from __future__ import annotations

import difflib
import inspect

import torch
from sklearn.base import BaseEstimator
from skorch import NeuralNet
from skorch.callbacks import EarlyStopping


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


# The parameter names skorch mistakes for components it can re-initialize (see set_params).
_COMPONENT_NAMES = frozenset({"optimizer", "dataset", "iterator_train", "iterator_valid"})


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
        flattened learning rates and the old schedule. Here the estimator rebuilds what the
        new values configure (``_rebuild_after_set_params``: the optimizer, keeping its state
        such as momentum, and the callbacks).

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
        if initialized:
            # All or nothing: the values are checked first, and a change that fails (torch
            # refusing an optimizer option, say) leaves the estimator as it was. skorch sets
            # some optimizer options into the live optimizer's groups: their values come back
            # with its state.
            self._check_settable(params)
            before, optimizer_state = dict(self.__dict__), self.optimizer_.state_dict()
            try:
                return self._set_params(params, initialized=True)
            except Exception:
                optimizer = before["optimizer_"]
                self.__dict__.clear()
                self.__dict__.update(before)
                optimizer.load_state_dict(optimizer_state)
                raise
        return self._set_params(params, initialized=False)

    def _validate_params(self):
        # skorch refuses unknown arguments when the net is initialized (at fit); the message
        # gains the parameter each was probably meant to be.
        try:
            super()._validate_params()
        except ValueError as exc:
            raise ValueError(f"{exc}{self._suggestions(self._params_to_validate)}") from None

    def _suggestions(self, names) -> str:
        """" Did you mean ...?" for the ``names`` that are no parameter, or ''."""
        # The signature's names (skorch's get_params and _get_param_names list unknown ones).
        valid = [name for name, param in inspect.signature(type(self).__init__).parameters.items()
                 if name != "self" and param.kind is not param.VAR_KEYWORD]
        hints = []
        for name in sorted(names):
            if name in valid or name.endswith("_") or "__" in name:
                continue
            close = difflib.get_close_matches(name, valid, n=1, cutoff=0.6)
            if close:
                hints.append(f"{close[0]!r} for {name!r}")
        return f" Did you mean {', '.join(hints)}?" if hints else ""

    def _set_params(self, params, initialized):
        # skorch treats these names as components of the optimizer, dataset and iterators; on
        # an initialized net it then fails ("Something went wrong"). They are read when
        # training starts, so they are plain attributes here.
        plain = {key: params.pop(key) for key in list(params) if initialized and (
            key in _COMPONENT_NAMES or key.split("__", 1)[0] in _COMPONENT_NAMES - {"optimizer"})}
        for key, value in plain.items():
            setattr(self, key, value)
        try:
            super().set_params(**params)
        except ValueError as exc:
            if not str(exc).startswith("Invalid parameter"):
                raise
            raise ValueError(f"{exc}{self._suggestions(params)}") from None
        params.update(plain)
        if not initialized:
            return self
        for key, value in params.items():
            if key.startswith("optimizer__"):  # skorch only sets the optimizer's groups
                setattr(self, key, value)
        self._rebuild_after_set_params(params)
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


    @property
    def _default_callbacks(self):
        # skorch's hook: the callbacks it builds before the user's ``callbacks``.
        return self._build_callbacks()

    def _get_predict_nonlinearity(self):
        # skorch's "auto" for BCEWithLogitsLoss (a sigmoid, then two columns) is for binary
        # targets; the (n_samples, n_labels) logits of multi-label targets take a sigmoid each.
        if (isinstance(self.predict_nonlinearity, str) and self.predict_nonlinearity == "auto"
                and getattr(self, "multilabel_", False)):
            return torch.sigmoid
        return super()._get_predict_nonlinearity()

    def _init_skorch(self, arguments: dict) -> None:
        """The body of an sk_cnn estimator's ``__init__``: ``arguments`` (its ``locals()``)
        that skorch's ``__init__`` takes go there (``**kwargs``, skorch's prefixed
        parameters, included); sk_cnn's own are stored as they are."""
        arguments = {k: v for k, v in arguments.items() if k not in ("self", "__class__")}
        kwargs = arguments.pop("kwargs", {})
        skorch_names = set()
        for base in type(self).__mro__:
            if base.__module__.startswith("skorch.") and "__init__" in vars(base):
                skorch_names |= set(inspect.signature(base.__init__).parameters)
        own = {k: v for k, v in arguments.items() if k not in skorch_names}
        super().__init__(**{k: v for k, v in arguments.items() if k in skorch_names},
                         **kwargs)
        vars(self).update(own)


def set_training(net: NeuralNet, training: bool) -> None:
    """Put the network and the loss in training (or evaluation) mode, as skorch does."""
    net._set_training(training)


#: The attributes of skorch's EarlyStopping that carry its state from one epoch to the next.
EARLY_STOPPING_STATE = ("misses_", "dynamic_threshold_", "best_epoch_", "best_model_weights_")


def stopped_early(net: NeuralNet) -> bool:
    """Whether an EarlyStopping callback (sk_cnn's or the user's) ended the last fit."""
    return any(isinstance(callback, EarlyStopping) and callback.misses_ >= callback.patience
               for _, callback in net.callbacks_)


def init_context(net: NeuralNet, name: str):
    """skorch's context for initializing the component ``name`` ("module", ...)."""
    return net._current_init_context(name)


def predict_nonlinearity(net: NeuralNet):
    """What ``predict_proba`` applies to the network's output (skorch's choice)."""
    return net._get_predict_nonlinearity()
