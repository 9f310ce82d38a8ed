"""Putting a network back as it was when a training call fails."""

from __future__ import annotations

import copy

import torch


def module_snapshot(module: torch.nn.Module):
    """A module's state dict copied to the CPU (no second copy of the weights on a GPU), which
    parameters train, and which parts a backbone keeps frozen: what :func:`restore_module`
    puts back."""
    return (_cpu_copy(module.state_dict()),
            [p.requires_grad for p in module.parameters()],
            list(getattr(module, "frozen", [])))


def restore_module(module: torch.nn.Module, snapshot) -> None:
    """Put a :func:`module_snapshot` back (a backbone unfrozen since is frozen again)."""
    state, trainable, frozen = snapshot
    module.load_state_dict(state)
    for parameter, requires_grad in zip(module.parameters(), trainable):
        parameter.requires_grad_(requires_grad)
    if hasattr(module, "frozen"):
        module.frozen = frozen
        module.train(module.training)  # frozen batch norm layers back in eval mode


def state_snapshot(net):
    """The network's and the optimizer's state, and the history's length: what
    :func:`restore_state` puts back."""
    return (module_snapshot(net.module_), _cpu_copy(net.optimizer_.state_dict()),
            len(net.history))


def restore_state(net, snapshot) -> None:
    """Load a :func:`state_snapshot` back into ``net`` and drop the history rows added since."""
    module, optimizer, epochs = snapshot
    restore_module(net.module_, module)
    net.optimizer_.load_state_dict(optimizer)
    del net.history[epochs:]


def _cpu_copy(value):
    """A copy of a (nested) state dict, its tensors on the CPU; keeps the modules' versions
    (``_metadata``) that ``load_state_dict`` reads."""
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", copy=True)
    if isinstance(value, dict):
        copied = type(value)((key, _cpu_copy(item)) for key, item in value.items())
        if hasattr(value, "_metadata"):
            copied._metadata = copy.deepcopy(value._metadata)
        return copied
    if isinstance(value, (list, tuple)):
        return type(value)(_cpu_copy(item) for item in value)
    return copy.deepcopy(value)
