"""Initial weights from a file or the torch hub cache, loaded where names and shapes fit."""

from __future__ import annotations

import os
import warnings
from collections import OrderedDict
from pathlib import Path

import torch
from torch import nn
from torchvision.models import get_model_weights


def load_weights(weights, name: str | None = None):
    """Return the state dict that ``weights`` names (see :func:`build_backbone`), or None."""
    if weights is None:
        return None
    path = Path(os.fspath(weights))
    if not path.suffix and name is not None and not path.exists():
        path = _cached_torchvision_file(name, str(weights))
    if not path.is_file():
        raise FileNotFoundError(f"Weights file {path} does not exist.")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch.load fails in many ways (KeyError for some text files)
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ValueError(
            f"{path} could not be read as a PyTorch state dict ({type(exc).__name__}: "
            f"{first_line}). Give a file written by torch.save(model.state_dict(), path) or "
            f"sk_cnn.save_weights.") from exc
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path} does not hold a state dict (name -> tensor).")
    return state


def _cached_torchvision_file(name: str, weights_name: str) -> Path:
    enum = get_model_weights(name)
    try:
        entry = enum.DEFAULT if weights_name == "DEFAULT" else enum[weights_name]
    except KeyError:
        raise ValueError(f"{name} has no weights named {weights_name!r}; choose one of "
                         f"{['DEFAULT'] + [w.name for w in enum]} or give a file path.") from None
    path = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(entry.url)
    if not path.is_file():
        raise FileNotFoundError(
            f"Pretrained weights {name} {entry.name} are not in the local torch hub cache and "
            f"sk_cnn never downloads. Put the file {os.path.basename(entry.url)} (from "
            f"{entry.url}) at {path}, or pass weights='/path/to/file.pth'.")
    return path


def load_matching(model: nn.Module, state: dict, source, warn: bool = True) -> list[str]:
    """Load the entries whose names and shapes match; return the keys left out.

    The output layer (the network's last ``nn.Linear``) may differ, as it does when the new
    task has other classes; any other entry left out gets a warning, since it means the file
    was saved from another architecture.

    Parameters
    ----------
    model : torch.nn.Module
        The network to load into.
    state : dict of str to torch.Tensor
        The state dict read from ``source``.
    source : str or path
        Where ``state`` came from, for the messages.
    warn : bool, default=True
        Warn about entries left out besides the output layer.

    Returns
    -------
    left_out : list of str
        The network's state-dict keys that kept their initialization.
    """
    own = model.state_dict()
    matching = with_versions({k: v for k, v in state.items()
                               if k in own and own[k].shape == v.shape}, state, own)
    if not matching:
        raise ValueError(f"The weights {source} do not fit this network: no parameter name and "
                         f"shape matches.")
    model.load_state_dict(matching, strict=False)
    left_out = sorted(set(own) - set(matching))
    if warn:
        output = [name for name, module in model.named_modules()
                  if isinstance(module, nn.Linear)]
        warn_left_out(left_out, len(own), source, f"{output[-1]}." if output else None)
    return left_out


def with_versions(entries: dict, state: dict, own: dict) -> OrderedDict:
    """``entries`` of ``state`` as a state dict that keeps its modules' versions.

    ``module.state_dict()`` records each module's version in ``_metadata`` (torch.save keeps
    it), and ``load_state_dict`` hands it to the modules: MNASNet refuses to load without its
    version. A plain dict without versions is taken as written by these modules (``own``).
    """
    result = OrderedDict(entries)
    result._metadata = getattr(state, "_metadata", None) or own._metadata
    return result


def warn_left_out(left_out, n_entries, source, head_prefix):
    """Warn when entries besides the output layer (``head_prefix``) kept their init."""
    unexpected = [k for k in left_out if not (head_prefix and k.startswith(head_prefix))]
    if unexpected:
        warnings.warn(
            f"The weights {source} fit only part of this network: {len(unexpected)} of "
            f"{n_entries} entries besides the output layer keep their random initialization "
            f"(e.g. {unexpected[:3]}), because the file has no entry of that name and shape. "
            f"Was it saved from another architecture (backbone, conv_filters, ...)?",
            UserWarning, stacklevel=3)

