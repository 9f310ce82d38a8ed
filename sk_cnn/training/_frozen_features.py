"""A frozen backbone's features, computed once per fit (or once per data set with ``memory``).

With ``freeze="backbone"`` and no training augmentation, every epoch would run the same
images through the same fixed function: :func:`frozen_features` runs them once, and the
estimator trains the head on the result (:meth:`~sk_cnn.networks._backbones.BackboneNet.
run_head`). Given a ``joblib.Memory`` (scikit-learn's ``memory`` convention, as
``Pipeline(memory=...)``), the features are stored on disk, keyed by the backbone's weights
and the images, so that grid-search candidates that differ only in the head's parameters
compute them once.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.utils.validation import check_memory

from ._batching import ImageDataset, to_network_input
from ._precision import autocast


def uses_frozen_features(module, *, freeze, unfreeze_at_epoch, augmentation) -> bool:
    """Whether a fit trains the head on features computed once: the network is a backbone
    frozen whole for the whole fit (no ``unfreeze_at_epoch``), and no augmentation changes
    the images it sees."""
    return (freeze == "backbone" and unfreeze_at_epoch is None and augmentation is None
            and callable(getattr(module, "head_input", None)))


def frozen_features(module, X: torch.Tensor, *, batch_size: int, device, mixed_precision,
                    memory=None, normalization=None) -> torch.Tensor:
    """The head's input for every sample of X: the frozen backbone run once, batched.

    Parameters
    ----------
    module : BackboneNet
        The network, its backbone frozen.
    X : torch.Tensor
        The images in the network's layout, as the training batches are sliced from.
    batch_size : int
        Samples per forward pass.
    device : str or torch.device
        Where the backbone runs.
    mixed_precision : str or None
        The estimator's ``mixed_precision``, as in training.
    memory : None, str or joblib.Memory, default=None
        Where features are stored for reuse: a directory or a ``joblib.Memory``; None keeps
        them for this fit only.
    normalization : DeferredNormalization or None, default=None
        Applied to each batch of X first (``ImageNormalizer``'s statistics for memory-mapped
        images), as the training batches are.

    Returns
    -------
    features : torch.Tensor
        float32, one row per sample, on X's device.
    """
    memory = check_memory(memory)
    device = torch.device(device)
    key = _backbone_key(module, mixed_precision, device)
    # joblib hashes the images as an array (the cache's key) and stores the features.
    images = X.numpy() if X.device.type == "cpu" else X.cpu().numpy()
    compute = memory.cache(_compute_features, ignore=["module", "batch_size"])
    features = compute(key, images, normalization, module=module, batch_size=batch_size,
                       device=device, mixed_precision=mixed_precision)
    return torch.from_numpy(features).to(X.device)


def _backbone_key(module, mixed_precision, device) -> dict:
    """What the features depend on besides the images: the frozen backbone's structure and
    weights (the head, which changes between candidates, left out), its precision and the
    kind of device it runs on."""
    tail = {id(p) for layer in module._tail() for p in layer.parameters()}
    tail |= {id(b) for layer in module._tail() for b in layer.buffers()}
    state = {name: value.detach().cpu().numpy()
             for name, value in [*module.named_parameters(), *module.named_buffers()]
             if id(value) not in tail}
    layers = [repr(child) for child in module.model.children()
              if all(child is not layer for layer in module._tail())]
    return {"layers": layers, "input_size": module.input_size, "state": state,
            "mixed_precision": mixed_precision, "device": device.type}


def _compute_features(key, images: np.ndarray, normalization, *, module, batch_size: int,
                      device, mixed_precision) -> np.ndarray:
    """The backbone's features of ``images`` (``key`` only names them for the cache)."""
    was_training = module.training
    module.eval()
    try:
        # The training batches' reader: the rows, normalized when the normalization is deferred.
        dataset = ImageDataset(torch.from_numpy(images), normalization=normalization)
        batches = []
        with torch.inference_mode():
            for start in range(0, len(images), batch_size):
                batch = to_network_input(dataset.rows(slice(start, start + batch_size)), device)
                with autocast(mixed_precision, device):
                    batches.append(module.head_input(batch).float().cpu())
        return torch.cat(batches).numpy()
    finally:
        module.train(was_training)
