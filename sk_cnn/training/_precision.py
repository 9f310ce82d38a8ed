"""Mixed precision: where bfloat16 is fast, and the autocast context of ``mixed_precision``."""

from __future__ import annotations

import contextlib

import torch

#: The string values of the estimators' ``mixed_precision`` (None is float32).
MIXED_PRECISION_OPTIONS = ("auto", "bfloat16")


def has_fast_bfloat16(device: torch.device) -> bool:
    """Whether ``device`` computes in bfloat16 natively (what ``mixed_precision="auto"`` asks).

    Parameters
    ----------
    device : torch.device
        The device that trains or predicts.

    Returns
    -------
    bool
        True for NVIDIA GPUs of compute capability 8.0 or newer (Ampere, Hopper, ...) and for
        CPUs with AVX512_BF16 or AMX instructions; False elsewhere, where bfloat16 arithmetic
        is emulated and can be slower than float32.

    Examples
    --------
    >>> import torch
    >>> from sk_cnn.training import has_fast_bfloat16
    >>> has_fast_bfloat16(torch.device("meta"))
    False
    """
    if device.type == "cuda":
        return torch.cuda.get_device_capability(device)[0] >= 8
    if device.type == "cpu":
        # torch.cpu's feature queries are private; a torch without them counts as "no".
        queries = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
        return any(getattr(torch.cpu, name, lambda: False)() for name in queries)
    return False


def autocast(mixed_precision: str | None, device: torch.device):
    """The context that runs a forward pass on ``device`` as ``mixed_precision`` says.

    Parameters
    ----------
    mixed_precision : {"auto", "bfloat16"} or None
        The estimators' parameter: "bfloat16" always, "auto" where :func:`has_fast_bfloat16`,
        None never.
    device : torch.device
        Where the forward pass runs.

    Returns
    -------
    context manager
        ``torch.autocast`` in bfloat16, or a context that changes nothing.
    """
    if mixed_precision == "bfloat16" or (
            mixed_precision == "auto" and has_fast_bfloat16(device)):
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()
