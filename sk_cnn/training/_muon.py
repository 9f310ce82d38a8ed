"""Muon for convolution filters, SGD with Nesterov momentum for the other parameters.

Our implementation of the optimizer of Keller Jordan's ``airbench94_muon.py``
(https://github.com/KellerJordan/cifar10-airbench; Muon: https://kellerjordan.github.io/posts/muon/):
each convolution filter bank's momentum-averaged gradient, seen as a matrix
``(out_channels, in_channels * kernel size)``, is replaced by an approximately orthogonal
matrix with the same singular vectors (a few Newton-Schulz iterations), and the filter bank is
rescaled to a fixed norm before each step. Biases, BatchNorm parameters and dense layers take
ordinary SGD steps. ``CNNClassifier(optimizer="muon")`` uses it. (``torch.optim.Muon`` treats
2-D matrices only and has no SGD part for the other parameters.)
"""

from __future__ import annotations

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
        Learning rate of the filters, chosen by measurement for the fast CIFAR-10 recipe's
        batches of 256 (``benchmarks/cifar10.py``).
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

