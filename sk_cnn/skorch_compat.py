"""Make a skorch net follow scikit-learn's conventions, and resolve ``device="auto"``."""

from __future__ import annotations

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
