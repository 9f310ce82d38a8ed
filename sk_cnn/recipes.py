"""The recipe of the fast CIFAR-10 network as estimator parameters (:func:`airbench_params`)."""

from __future__ import annotations

__all__ = ["airbench_params"]



def airbench_params(max_epochs: int | None = None, device: str = "cpu") -> dict:
    """The estimator parameters of the fast CIFAR-10 recipe, as an explicit dict.

    ``CNNClassifier(**airbench_params())`` is the recipe; every value is an ordinary parameter,
    so ``get_params`` shows exactly what is trained and any value can be changed or grid
    searched. Pair it with ``ImageNormalizer(dtype="float16")`` and
    ``ImageAugmenter(horizontal_flip="alternate", crop_padding=2, padding_mode="reflect")``
    before the classifier.

    The values follow airbench94 (lr 11.5 per 1024 examples of a summed loss, momentum 0.85,
    weight decay 0.0153 per 1024 examples, label smoothing 0.2), converted to PyTorch's SGD
    with a mean loss: ``lr = 11.5 / (1 + 1 / (1 - 0.85)) * batch_size / 1024`` and
    ``weight_decay = 0.0153 / 11.5`` (PyTorch multiplies it by ``lr``). With other batch sizes
    scale ``lr`` linearly with the batch size and keep ``weight_decay``. The convolution
    filters train with Muon (``optimizer="muon"``, :class:`sk_cnn.training.Muon`, after
    airbench94_muon); the BatchNorm shifts, the whitening bias and the output layer keep the
    SGD settings. ``mixed_precision="auto"`` computes the forward passes in bfloat16 where the
    device does so natively (:func:`sk_cnn.training.has_fast_bfloat16`).

    For the CPU, two choices differ from airbench94, because they train faster per image on
    a few cores: block widths 48/192/192 (airbench94: 64/256/256) and batches of 256
    (airbench94: 1024), with 13 epochs. ``device="cuda"`` gives airbench94's widths and
    batches of 1024 (lr 1.5), the filters' Muon learning rate 0.12
    (``optimizer__muon_lr``) and 10 epochs. Each choice, its alternatives and the accuracy
    and time of the whole recipe are measured in ``benchmarks/cifar10.py`` and
    ``benchmarks/cifar10_gpu.py``; the figures are in benchmarks/README.md. To train the GPU
    settings with ``optimizer="sgd"``, leave out ``optimizer__muon_lr`` (SGD takes no such
    option).

    Parameters
    ----------
    max_epochs : int or None, default=None
        Epochs of training; None: 13 for the CPU, 10 for the GPU.
    device : {"cpu", "cuda"}, default="cpu"
        The hardware to train on: the settings measured there, and the estimator's ``device``
        (``device="cuda"``; for "cpu" the estimator's own default, "auto", is kept).

    Returns
    -------
    params : dict
        Keyword arguments of :class:`sk_cnn.CNNClassifier`.

    Examples
    --------
    >>> from sk_cnn import CNNClassifier
    >>> from sk_cnn.recipes import airbench_params
    >>> clf = CNNClassifier(**airbench_params(max_epochs=10))
    >>> clf.get_params()["architecture"], clf.get_params()["batch_size"]
    ('airbench', 256)
    >>> gpu = airbench_params(device="cuda")
    >>> gpu["batch_size"], gpu["lr"], gpu["optimizer__muon_lr"], gpu["max_epochs"]
    (1024, 1.5, 0.12, 10)
    """
    if device not in ("cpu", "cuda"):
        raise ValueError(f'device must be "cpu" or "cuda", got {device!r}.')
    gpu = device == "cuda"
    momentum, batch_size = 0.85, 1024 if gpu else 256
    kilostep = 1 + 1 / (1 - momentum)  # airbench's "kilostep_scale" divided by 1024
    lr_1024 = 11.5 / kilostep  # 1.5 for batches of 1024
    lr = round(lr_1024 * batch_size / 1024, 6)  # 0.375 for 256
    if max_epochs is None:
        max_epochs = 10 if gpu else 13
    device_params = {"device": "cuda", "optimizer__muon_lr": 0.12} if gpu else {}
    return {
        "architecture": "airbench",
        "conv_filters": (64, 256, 256) if gpu else (48, 192, 192),
        "activation": "gelu",
        "optimizer": "muon",
        "lr": lr,
        "momentum": momentum,
        "nesterov": True,
        "weight_decay": round(0.0153 / kilostep / lr_1024, 8),
        "batch_size": batch_size,
        "max_epochs": max_epochs,
        "lr_schedule": "warmup_linear",
        "weight_averaging": "lookahead",
        "label_smoothing": 0.2,
        "tta": "flip_translate",
        "mixed_precision": "auto",
        "validation_fraction": None,
        **device_params,
    }

