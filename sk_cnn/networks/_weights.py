"""Initial weights from a file or the torch hub cache (downloaded there when missing),
loaded where names and shapes fit."""

from __future__ import annotations

import os
import sys
import warnings
from collections import OrderedDict
from pathlib import Path

import torch
from torch import nn
from torchvision.models import get_model_weights

from .._download import download


def load_weights(weights, name: str | None = None):
    """Return the state dict that ``weights`` names (see :func:`build_backbone`), or None.

    A torchvision weights name of the backbone ``name``, or an http(s) address, is read from
    the torch hub cache and downloaded there first when it is missing (:func:`cached_download`).
    """
    if weights is None:
        return None
    text = os.fspath(weights)
    if isinstance(text, str) and text.startswith(("http://", "https://")):
        path = cached_download(text, f"The weights {text.rsplit('/', 1)[-1]}")
    else:
        path = Path(text)
        if not path.suffix and name is not None and not path.exists():
            entry = _torchvision_weights(name, str(weights))
            path = cached_download(entry.url, f"The pretrained weights {name} {entry.name}")
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


def _torchvision_weights(name: str, weights_name: str):
    enum = get_model_weights(name)
    try:
        return enum.DEFAULT if weights_name == "DEFAULT" else enum[weights_name]
    except KeyError:
        raise ValueError(f"{name} has no weights named {weights_name!r}; choose one of "
                         f"{['DEFAULT'] + [w.name for w in enum]} or give a file path.") from None


def cached_download(url: str, what: str) -> Path:
    """The file of ``url`` in the torch hub cache, downloaded there first when missing.

    The cache is torchvision's (``$TORCH_HOME/hub/checkpoints``), so weights that torchvision
    downloaded are found, and the other way round. The download is torch's own
    (``torch.hub.download_url_to_file``): a progress bar on stderr, the file written only
    when complete, and, when its name carries a hash (``resnet18-f37072fd.pth``), refused
    unless its SHA-256 starts with it. ``SK_CNN_OFFLINE`` and ``SK_CNN_DOWNLOAD_MIRROR`` apply
    (see :func:`sk_cnn._download.download`).
    """
    path = Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]
    if path.is_file():
        return path
    match = torch.hub.HASH_REGEX.search(path.name)

    def fetch(address):
        path.parent.mkdir(parents=True, exist_ok=True)
        print(f"Downloading {address} to {path}", file=sys.stderr)
        torch.hub.download_url_to_file(address, str(path), match.group(1) if match else None,
                                       progress=True)

    download(what, url, fetch, path=path)
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

