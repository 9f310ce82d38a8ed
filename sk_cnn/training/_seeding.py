"""Seeding a training call without touching the caller's global random state."""

from __future__ import annotations

import contextlib
from numbers import Integral

import numpy as np
import torch
from sklearn.utils import check_random_state


def call_seed(seed: int, epochs_done: int) -> int:
    """The seed of a training call that starts after ``epochs_done`` epochs: ``seed`` itself
    for a first fit, a different one for each continuation (so that partial_fit calls do not
    replay the same random augmentation, shuffles and dropout)."""
    if not epochs_done:
        return seed
    return int(np.random.SeedSequence([seed, epochs_done]).generate_state(1)[0])


@contextlib.contextmanager
def seeded(random_state, device, epochs_done: int = 0):
    """Seed torch from ``random_state`` inside a fork of its global random state.

    None leaves torch's global generators to the training, as plain PyTorch code does. A call
    that continues training after ``epochs_done`` epochs (partial_fit, warm_start) gets
    another seed than the fit before it (see :func:`call_seed`), so it draws new shuffles and
    dropout masks.

    Parameters
    ----------
    random_state : int, numpy.random.RandomState or None
        The estimator's ``random_state``.
    device : str or torch.device
        The training device (resolved: "cpu", "cuda", "cuda:1", ...).
    epochs_done : int, default=0
        Epochs the estimator trained before this call.
    """
    if random_state is None:
        yield
        return
    seed = (int(random_state) if isinstance(random_state, Integral)
            else int(check_random_state(random_state).randint(2**31)))
    # Only the training GPU's generator: asking for the others' would initialize CUDA on
    # every GPU, even for a fit on the CPU.
    device = torch.device(device)
    devices = ([device.index if device.index is not None else torch.cuda.current_device()]
               if device.type == "cuda" and torch.cuda.is_available() else [])
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(call_seed(seed, epochs_done))
        yield
