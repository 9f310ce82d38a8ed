"""Muon for convolution filters, SGD with Nesterov momentum for the other parameters.

Our implementation of the optimizer of Keller Jordan's ``airbench94_muon.py``
(https://github.com/KellerJordan/cifar10-airbench; Muon: https://kellerjordan.github.io/posts/muon/):
each convolution filter bank's momentum-averaged gradient, seen as a matrix
``(out_channels, in_channels * kernel size)``, is replaced by an approximately orthogonal
matrix with the same singular vectors (a few Newton-Schulz iterations), and the filter bank is
rescaled to a fixed norm before each step. Biases, BatchNorm parameters and dense layers take
ordinary SGD steps. ``CNNClassifier(optimizer="muon")`` uses it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import torch

#: Coefficients of the quintic Newton-Schulz iteration (airbench94_muon.py).
NEWTON_SCHULZ_COEFFICIENTS = (3.4445, -4.7750, 2.0315)


def orthogonalize(G: torch.Tensor, steps: int = 3, eps: float = 1e-7) -> torch.Tensor:
    """Approximately orthogonalize a matrix by a quintic Newton-Schulz iteration.

    The result has the singular vectors of ``G`` and singular values roughly between 0.5 and
    1.5 (the iteration trades exactness for speed, as in Muon).

    Parameters
    ----------
    G : torch.Tensor of shape (m, n)
        The matrix.
    steps : int, default=3
        Iterations.
    eps : float, default=1e-7
        Added to the norm that scales ``G`` first (its largest singular value becomes <= 1).

    Returns
    -------
    X : torch.Tensor of shape (m, n)
    """
    a, b, c = NEWTON_SCHULZ_COEFFICIENTS
    X = G / (G.norm() + eps)
    transposed = G.shape[0] > G.shape[1]
    if transposed:
        X = X.T
    for _ in range(steps):
        A = X @ X.T
        X = a * X + (b * A + c * A @ A) @ X
    return X.T if transposed else X


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


class Muon(torch.optim.SGD):
    """Muon on convolution filters (parameters of 3 or more dimensions), SGD on the rest.

    Every parameter group given is split in two: its convolution filters get Muon steps
    (learning rate ``muon_lr``, momentum ``muon_momentum``, Nesterov, no weight decay; each
    filter bank is rescaled to norm ``sqrt(out_channels)`` before its step), its other
    parameters keep the group's SGD settings. A group with its own learning rate scales its
    filters' rate alike (``muon_lr * group lr / lr``: a backbone trained at
    ``backbone_lr_factor`` times the rate gets its filters at that factor of ``muon_lr``).
    Learning-rate schedules scale both kinds.

    Parameters
    ----------
    params : iterable of torch.Tensor or of dict
        Parameters or parameter groups, as for :class:`torch.optim.SGD`.
    lr : float, default=0.05
        Learning rate of the SGD part.
    momentum : float, default=0.9
        Momentum of the SGD part.
    nesterov : bool, default=True
        Nesterov momentum for the SGD part.
    weight_decay : float, default=0.0
        Weight decay of the SGD part (coupled, as in :class:`torch.optim.SGD`).
    muon_lr : float, default=0.05
        Learning rate of the filters. Measured on CIFAR-10 with the fast recipe at batches of
        256 (widths 32/128/128, float32; benchmarks/README.md): on all 50,000 images for 16
        epochs 0.05 and 0.08 beat airbench94_muon's 0.24 (used there with batches of 2000); on
        10,000 images 0.24 and 0.08 beat 0.03 and 0.5.
    muon_momentum : float, default=0.6
        Momentum of the filters (airbench94_muon's).
    ns_steps : int, default=3
        Newton-Schulz iterations per step.
    """

    def __init__(self, params, lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.0,
                 muon_lr=0.05, muon_momentum=0.6, ns_steps=3):
        groups = list(params)
        if groups and not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        split = []
        for group in groups:
            group_params = list(group["params"])
            other = [p for p in group_params if p.ndim < 3]
            filters = [p for p in group_params if p.ndim >= 3]
            if other:
                split.append({**group, "params": other, "muon": False})
            if filters:
                # A group with its own rate (a backbone at backbone_lr_factor) scales muon_lr alike.
                filter_lr = muon_lr * group.get("lr", lr) / lr if lr else muon_lr
                split.append({**group, "params": filters, "muon": True, "lr": filter_lr,
                              "momentum": muon_momentum, "nesterov": True, "weight_decay": 0.0})
        super().__init__(split, lr=lr, momentum=momentum, nesterov=nesterov,
                         weight_decay=weight_decay)
        self.ns_steps = ns_steps

    def __getstate__(self):
        # torch's Optimizer pickles only defaults, state and param_groups.
        return {**super().__getstate__(), "ns_steps": self.ns_steps}

    @torch.no_grad()
    def step(self, closure=None):
        """One step for every parameter with a gradient; returns the closure's loss, if any."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, momentum = group["lr"], group["momentum"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad
                if group["weight_decay"]:
                    grad = grad.add(p, alpha=group["weight_decay"])
                state = self.state[p]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = grad.clone()
                else:
                    state["momentum_buffer"].mul_(momentum).add_(grad)
                buf = state["momentum_buffer"]
                grad = grad.add(buf, alpha=momentum) if group["nesterov"] else buf
                if group["muon"]:
                    p.mul_(len(p) ** 0.5 / p.norm().clamp(min=1e-12))
                    update = orthogonalize(grad.reshape(len(grad), -1), self.ns_steps)
                    p.add_(update.view_as(p), alpha=-lr)
                else:
                    p.add_(grad, alpha=-lr)
        return loss


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


def _entry(net):
    """``(optimizer class, default lr, estimator parameters it takes)`` of ``net.optimizer``."""
    name = net.optimizer if isinstance(net.optimizer, str) else None
    return OPTIMIZERS.get(name, (net.optimizer, 0.01, ()))


def resolved_lr(net) -> float:
    """The learning rate of an sk_cnn estimator: ``lr``, or its optimizer's default.

    Parameters
    ----------
    net : CNNClassifier or CNNRegressor
        The estimator.

    Returns
    -------
    lr : float
        What messages about the learning rate quote.
    """
    return net.lr if net.lr is not None else _entry(net)[1]


def build_optimizer(net) -> torch.optim.Optimizer:
    """The optimizer of an initialized sk_cnn estimator (its skorch ``initialize_optimizer``).

    The optimizer named by ``optimizer`` with its default learning rate unless one is set,
    ``weight_decay``, the estimator's ``momentum``/``nesterov`` where it takes them, a
    backbone group at ``backbone_lr_factor`` times the rate, and the network's own SGD
    groups (airbench) for SGD and Muon.

    Parameters
    ----------
    net : CNNClassifier or CNNRegressor
        An estimator whose ``module_`` is built.

    Returns
    -------
    optimizer : torch.optim.Optimizer
        The optimizer over the network's learnable parameters.
    """
    args, kwargs = net.get_params_for_optimizer("optimizer", net.get_all_learnable_params())
    optimizer, default_lr, taken = _entry(net)
    if (isinstance(optimizer, type) and issubclass(optimizer, torch.optim.LBFGS)
            and net.module is None and any(p.ndim == 4 for p in net.module_.parameters())):
        raise ValueError(
            "optimizer=torch.optim.LBFGS cannot train sk_cnn's image networks: their "
            "convolution weights are stored channels_last, which LBFGS's flat views of the "
            "parameters do not support. Use optimizer='adam', 'sgd' or another optimizer.")
    if kwargs.get("lr") is None:
        kwargs["lr"] = default_lr
    if net.weight_decay or _takes_weight_decay(optimizer):
        # 0.0 too: AdamW's own default is 0.01.
        kwargs.setdefault("weight_decay", net.weight_decay)
    for name in taken:
        kwargs.setdefault(name, getattr(net, name))
    if net.backbone is not None and net.backbone_lr_factor != 1.0:
        backbone = {id(p) for p in net.module_.backbone_parameters()}
        params = [p for group in args[0] for p in group["params"]]
        args = ([{"params": [p for p in params if id(p) in backbone],
                  "lr": kwargs["lr"] * net.backbone_lr_factor},
                 {"params": [p for p in params if id(p) not in backbone]}],)
    groups = getattr(net.module_, "optimizer_param_groups", None)
    sgd = isinstance(optimizer, type) and issubclass(optimizer, torch.optim.SGD)  # or Muon
    if net.module is None and groups is not None and sgd:
        # The network's own SGD settings per group (airbench: faster BatchNorm shifts).
        args = (groups(kwargs["lr"], kwargs.get("weight_decay", 0.0)),)
    if sgd and not kwargs.get("momentum"):
        kwargs["nesterov"] = False  # torch refuses Nesterov without momentum
    check_optimizer_options(optimizer, kwargs, f"optimizer={net.optimizer!r}",
                            {name: entry[0] for name, entry in OPTIMIZERS.items()})
    return optimizer(*args, **kwargs)
