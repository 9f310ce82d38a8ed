"""The optimizer of an sk_cnn estimator, built from its optimizer parameters."""

from __future__ import annotations

import inspect
from collections.abc import Callable

import torch
from torch import nn

from ._muon import Muon


def check_optimizer_options(optimizer: type | Callable, options: dict, name: str,
                            alternatives: dict | None = None) -> None:
    """Refuse ``optimizer__`` options that the optimizer class does not take, before torch does.

    Parameters
    ----------
    optimizer : type or callable
        The torch optimizer class (or a callable that builds one, e.g. a ``functools.partial``).
    options : dict
        Keyword arguments for it (the estimator's ``optimizer__*`` values and those it adds).
    name : str
        How the user named the optimizer (``optimizer="sgd"``), for the message.
    alternatives : dict of str to type, default=None
        Optimizers by name; those that take the refused options are suggested.

    Raises
    ------
    TypeError
        If an option is not a parameter of ``optimizer``'s constructor (and it takes no
        ``**kwargs``), naming the option, the parameters it does take, and the fix.
    """
    try:
        parameters = inspect.signature(optimizer).parameters
    except (TypeError, ValueError):
        return  # no signature to check against: let the optimizer decide
    if any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
        return
    unknown = sorted(set(options) - set(parameters))
    if not unknown:
        return
    takers = [n for n, cls in (alternatives or {}).items()
              if set(unknown) <= set(inspect.signature(cls).parameters)]
    given = ", ".join(f"optimizer__{option}" for option in unknown)
    if isinstance(optimizer, type) and optimizer.__qualname__ not in name:
        name = f"{name} ({optimizer.__module__}.{optimizer.__qualname__})"
    raise TypeError(
        f"{name} does not take {given}; its "
        f"options are {', '.join(p for p in parameters if p != 'params')}. Remove {given}"
        + (f" or choose optimizer={' or '.join(map(repr, takers))}." if takers else "."))


# Optimizer name -> (class, default learning rate, keyword arguments taken from the estimator).
# The default learning rates come from benchmarks/defaults.py (table in benchmarks/README.md).
OPTIMIZERS = {
    "adam": (torch.optim.Adam, 2e-3, ()),
    "adamw": (torch.optim.AdamW, 2e-3, ()),
    "sgd": (torch.optim.SGD, 5e-2, ("momentum", "nesterov")),
    # Muon on the convolution filters (its own lr 0.05), SGD with lr on everything else.
    "muon": (Muon, 5e-2, ("momentum", "nesterov")),
    "rmsprop": (torch.optim.RMSprop, 1e-3, ("momentum",)),
}


def _takes_weight_decay(optimizer) -> bool:
    try:
        return "weight_decay" in inspect.signature(optimizer).parameters
    except (TypeError, ValueError):
        return False



def resolved_lr(optimizer, lr: float | None) -> float:
    """The learning rate an sk_cnn estimator trains with: ``lr``, or its optimizer's default.

    Parameters
    ----------
    optimizer : str or type
        The estimator's ``optimizer``.
    lr : float or None
        The estimator's ``lr``.

    Returns
    -------
    lr : float
        The learning rate (0.01 for an optimizer class given without ``lr``).
    """
    return lr if lr is not None else _entry(optimizer)[1]


def _entry(optimizer):
    """``(optimizer class, default lr, estimator parameters it takes)`` of ``optimizer``."""
    name = optimizer if isinstance(optimizer, str) else None
    return OPTIMIZERS.get(name, (optimizer, 0.01, ()))


def build_optimizer(
    module: nn.Module,
    param_groups: list[dict],
    options: dict,
    *,
    optimizer: str | type | Callable,
    lr: float | None,
    momentum: float,
    nesterov: bool,
    weight_decay: float,
    backbone_lr_factor: float,
) -> torch.optim.Optimizer:
    """The optimizer of an sk_cnn network.

    The optimizer named by ``optimizer`` at its default learning rate unless one is set,
    with ``weight_decay`` and ``momentum``/``nesterov`` where it takes them; a backbone's
    parameters in a group of their own at ``backbone_lr_factor`` times the rate; for SGD and
    Muon, the network's own parameter groups where it defines them
    (``optimizer_param_groups(lr, weight_decay)``: airbench's faster BatchNorm shifts).

    Parameters
    ----------
    module : torch.nn.Module
        The network.
    param_groups : list of dict
        Its learnable parameters, as skorch groups them (``optimizer__param_groups``).
    options : dict
        Keyword arguments for the optimizer (``optimizer__*``); an ``lr`` among them wins
        over ``lr``.
    optimizer, lr, momentum, nesterov, weight_decay, backbone_lr_factor
        The estimator's parameters.

    Returns
    -------
    optimizer : torch.optim.Optimizer
        The optimizer over the network's learnable parameters.
    """
    name = optimizer
    optimizer, default_lr, taken = _entry(name)
    if (isinstance(optimizer, type) and issubclass(optimizer, torch.optim.LBFGS)
            and any(p.ndim == 4 and not p.is_contiguous() for p in module.parameters())):
        raise ValueError(
            "optimizer=torch.optim.LBFGS cannot train sk_cnn's image networks: their "
            "convolution weights are stored channels_last, which LBFGS's flat views of the "
            "parameters do not support. Use optimizer='adam', 'sgd' or another optimizer.")
    kwargs = dict(options)
    kwargs["lr"] = kwargs.get("lr", lr)
    if kwargs["lr"] is None:
        kwargs["lr"] = default_lr
    if weight_decay or _takes_weight_decay(optimizer):
        # 0.0 too: AdamW's own default is 0.01.
        kwargs.setdefault("weight_decay", weight_decay)
    for option, value in (("momentum", momentum), ("nesterov", nesterov)):
        if option in taken:
            kwargs.setdefault(option, value)
    groups = param_groups
    backbone_parameters = getattr(module, "backbone_parameters", None)
    if backbone_parameters is not None and backbone_lr_factor != 1.0:
        backbone = {id(p) for p in backbone_parameters()}
        params = [p for group in groups for p in group["params"]]
        groups = [{"params": [p for p in params if id(p) in backbone],
                   "lr": kwargs["lr"] * backbone_lr_factor},
                  {"params": [p for p in params if id(p) not in backbone]}]
    own_groups = getattr(module, "optimizer_param_groups", None)
    sgd = isinstance(optimizer, type) and issubclass(optimizer, torch.optim.SGD)  # or Muon
    if own_groups is not None and sgd:
        groups = own_groups(kwargs["lr"], kwargs.get("weight_decay", 0.0))
    if sgd and not kwargs.get("momentum"):
        kwargs["nesterov"] = False  # torch refuses Nesterov without momentum
    check_optimizer_options(optimizer, kwargs, f"optimizer={name!r}",
                            {key: entry[0] for key, entry in OPTIMIZERS.items()})
    return optimizer(groups, **kwargs)
