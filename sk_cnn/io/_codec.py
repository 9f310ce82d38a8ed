"""How a fitted estimator's values become JSON and tensors in an sk_cnn model file, and back.

Numeric arrays and tensors go to the safetensors part, everything else to JSON: numbers,
strings, lists, tuples, dicts, an :class:`~sk_cnn.AugmentationSpec`, paths, devices, dtypes,
and classes from a fixed allowlist (:data:`ALLOWED_CLASSES`), named, never unpickled.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import os
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from ..preprocessing import AugmentationSpec
from ..training._batching import BatchIterator, ImageDataset

# The classes that may appear as CNNClassifier or CNNRegressor parameters, under the names
# the file format gives them (fixed: they do not follow where a class is defined).
ALLOWED_CLASSES = {
    "torch.nn.modules.loss.CrossEntropyLoss": torch.nn.CrossEntropyLoss,
    "torch.nn.modules.loss.NLLLoss": torch.nn.NLLLoss,
    "torch.nn.modules.loss.MSELoss": torch.nn.MSELoss,
    "torch.nn.modules.loss.HuberLoss": torch.nn.HuberLoss,
    "torch.nn.modules.loss.L1Loss": torch.nn.L1Loss,
    "torch.utils.data.dataloader.DataLoader": DataLoader,
    "torch.optim.adam.Adam": torch.optim.Adam,
    "torch.optim.adamw.AdamW": torch.optim.AdamW,
    "torch.optim.sgd.SGD": torch.optim.SGD,
    "torch.optim.rmsprop.RMSprop": torch.optim.RMSprop,
    "torch.optim.adagrad.Adagrad": torch.optim.Adagrad,
    "sk_cnn.data.BatchIterator": BatchIterator,
    "sk_cnn.data.ImageDataset": ImageDataset,
}
_CLASS_NAMES = {cls: name for name, cls in ALLOWED_CLASSES.items()}


def _hash_tensors(hasher, tensors: dict) -> None:
    for key in sorted(tensors):
        tensor = tensors[key].contiguous()
        hasher.update(f"{key}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        hasher.update(tensor.view(-1).view(torch.uint8).numpy().tobytes() if tensor.numel()
                      else b"")


def digest(config: str, tensors: dict) -> str:
    """SHA-256 of a file's configuration and tensors: it detects accidental damage, but
    anyone who edits a file can write the digest of the edit (see :func:`signature`)."""
    sha = hashlib.sha256(config.encode())
    _hash_tensors(sha, tensors)
    return sha.hexdigest()


#: The metadata entry that holds a file's keyed signature.
SIGNATURE = "hmac_sha256"


def signature(key, metadata: dict, tensors: dict) -> str:
    """HMAC-SHA256 with ``key`` over a file's whole content: every metadata entry but the
    signature itself, and every tensor (names, dtypes, shapes and bytes).

    Parameters
    ----------
    key : bytes or str
        The secret (a str is encoded as UTF-8); not empty.
    metadata : dict of str to str
        The file's metadata.
    tensors : dict of str to torch.Tensor
        The file's tensors.

    Returns
    -------
    signature : str
        The HMAC, in hexadecimal.
    """
    if isinstance(key, str):
        key = key.encode()
    if not isinstance(key, (bytes, bytearray)) or not key:
        raise TypeError(f"key must be a non-empty bytes or str secret, got {type(key).__name__}.")
    mac = hmac.new(bytes(key), digestmod=hashlib.sha256)
    signed = {name: value for name, value in metadata.items() if name != SIGNATURE}
    mac.update(json.dumps(signed, sort_keys=True).encode())
    _hash_tensors(mac, tensors)
    return mac.hexdigest()


def encode(value, key, tensors):
    """JSON-able description of a value; numeric arrays go to ``tensors``."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (np.bool_, np.integer, np.floating)):
        return {"scalar": value.item(), "dtype": value.dtype.str}
    if isinstance(value, torch.Tensor):
        tensors[key] = value.detach().cpu().contiguous()
        return {"tensor": key}
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "biuf":
            # Keep Fortran order (e.g. PCA's components_): it changes float rounding in matmul.
            fortran = value.ndim > 1 and value.flags.f_contiguous and not value.flags.c_contiguous
            stored = value.T if fortran else value
            tensors[key] = torch.from_numpy(np.ascontiguousarray(stored).copy())
            return {"ndarray": key, "fortran": fortran}
        if value.dtype.kind in "UO" and all(isinstance(v, (str, int, float, bool))
                                            for v in value.ravel().tolist()):
            return {"array": value.tolist(), "dtype": value.dtype.str if value.dtype.kind == "U"
                    else "object", "shape": list(value.shape)}
    if isinstance(value, tuple):
        return {"tuple": [encode(v, f"{key}.{i}", tensors) for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [encode(v, f"{key}.{i}", tensors) for i, v in enumerate(value)]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {"dict": {k: encode(v, f"{key}.{k}", tensors) for k, v in value.items()}}
    if isinstance(value, dict):  # other keys, e.g. class_weight={0: 1.0, 1: 3.0}
        return {"items": [[encode(k, f"{key}.{i}.key", tensors),
                           encode(v, f"{key}.{i}", tensors)]
                          for i, (k, v) in enumerate(value.items())]}
    if isinstance(value, AugmentationSpec):
        return {"augmentation_spec": dataclasses.asdict(value)}
    if isinstance(value, os.PathLike):
        return {"path": os.fspath(value)}
    if isinstance(value, torch.device):
        return {"torch_device": str(value)}
    if isinstance(value, np.dtype) and value.kind in "biufUO":
        return {"numpy_dtype": value.str}
    if isinstance(value, type) and value in _CLASS_NAMES:
        return {"class": _CLASS_NAMES[value]}
    raise TypeError(f"{key} = {value!r} cannot be saved without pickle. Use joblib.dump.")


def decode(value, tensors):
    if isinstance(value, list):
        return [decode(v, tensors) for v in value]
    if not isinstance(value, dict):
        return value
    if "tensor" in value:
        return tensors[value["tensor"]]
    if "ndarray" in value:
        array = tensors[value["ndarray"]].numpy()
        return array.T if value["fortran"] else array
    if "scalar" in value:
        return np.dtype(value["dtype"]).type(value["scalar"])
    if "array" in value:
        dtype = object if value["dtype"] == "object" else np.dtype(value["dtype"])
        return np.array(value["array"], dtype=object).astype(dtype).reshape(value["shape"])
    if "tuple" in value:
        return tuple(decode(v, tensors) for v in value["tuple"])
    if "dict" in value:
        return {k: decode(v, tensors) for k, v in value["dict"].items()}
    if "items" in value:
        return {decode(k, tensors): decode(v, tensors) for k, v in value["items"]}
    if "augmentation_spec" in value:
        return AugmentationSpec(**value["augmentation_spec"])
    if "path" in value:
        return Path(value["path"])
    if "torch_device" in value:
        return torch.device(value["torch_device"])
    if "numpy_dtype" in value:
        return np.dtype(value["numpy_dtype"])
    if "class" in value:
        return ALLOWED_CLASSES[value["class"]]
    raise ValueError(f"Unknown entry {sorted(value)} in the model file.")

