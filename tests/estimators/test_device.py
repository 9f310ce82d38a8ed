"""Devices and mixed precision: where the data and the network live, in which dtype."""

import io

import joblib
import numpy as np
import pytest
import torch
from skorch.callbacks import Callback

from sk_cnn import CNNClassifier, ImageAugmenter
from sk_cnn.recipes import airbench_params

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def _record_conv_dtypes(net):
    """Record the output dtype of every convolution call of the fitted net's module."""
    seen = []
    for layer in net.module_.modules():
        if isinstance(layer, torch.nn.Conv2d):
            layer.register_forward_hook(lambda m, i, out: seen.append(out.dtype))
    return seen


class BatchDevices(Callback):
    """Remember the device of every training batch as the net receives it."""

    def on_train_begin(self, net, **kwargs):
        self.devices_ = set()

    def on_batch_begin(self, net, batch=None, training=False, **kwargs):
        if training:
            self.devices_.update({batch[0].device.type, batch[1].device.type})


def test_mixed_precision_runs_the_network_in_bfloat16(tiny_images, tiny_classifier):
    X, y = tiny_images
    clf = tiny_classifier(mixed_precision="bfloat16", device="cpu", max_epochs=1).fit(X, y)
    seen = _record_conv_dtypes(clf)
    clf.partial_fit(X, y)  # training steps
    assert set(seen) == {torch.bfloat16}
    seen.clear()
    proba = clf.predict_proba(X)
    assert set(seen) == {torch.bfloat16}
    assert proba.dtype == np.float32 and np.allclose(proba.sum(axis=1), 1, atol=1e-5)
    assert all(p.dtype == torch.float32 for p in clf.module_.parameters())
    assert np.isfinite(clf.history[:, "train_loss"]).all()


def test_without_mixed_precision_the_network_runs_in_float32(tiny_images, tiny_classifier):
    X, y = tiny_images
    clf = tiny_classifier(device="cpu", max_epochs=1).fit(X, y)
    seen = _record_conv_dtypes(clf)
    clf.partial_fit(X, y)
    clf.predict(X)
    assert set(seen) == {torch.float32}


@pytest.mark.parametrize("native", [True, False])
def test_auto_mixed_precision_follows_the_cpus_bfloat16_support(
        tiny_images, tiny_classifier, monkeypatch, native):
    # The two queries has_fast_bfloat16 asks on a CPU, answered as on a machine with and
    # without native bfloat16 arithmetic.
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: native)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    X, y = tiny_images
    clf = tiny_classifier(mixed_precision="auto", device="cpu", max_epochs=1).fit(X, y)
    seen = _record_conv_dtypes(clf)
    clf.partial_fit(X, y)
    clf.predict(X)
    assert set(seen) == {torch.bfloat16 if native else torch.float32}


def test_mixed_precision_refuses_unknown_values(tiny_images, tiny_classifier):
    X, y = tiny_images
    with pytest.raises(ValueError, match="mixed_precision"):
        tiny_classifier(mixed_precision="float16").fit(X, y)


def test_cpu_training_keeps_the_data_where_it_is(tiny_images, tiny_classifier):
    X, y = tiny_images
    devices = BatchDevices()
    tiny_classifier(device="cpu", callbacks=[("devices", devices)]).fit(X, y)
    assert devices.devices_ == {"cpu"}


# Also on the CPU, so that CI (no GPU) runs everything but the device of the CUDA case.
@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=needs_cuda)])
@pytest.mark.parametrize("mixed_precision", [None, "bfloat16"])
def test_recipe_slices_and_augments_batches_on_the_training_device(
        tiny_images, mixed_precision, device):
    X, y = tiny_images
    X_before = X.copy()
    devices = BatchDevices()
    # The recipe sets mixed_precision itself ("auto"): override it in the dict.
    params = {**airbench_params(max_epochs=8), "conv_filters": (8, 16), "batch_size": 16,
              "lr": 0.375 * 16 / 256, "mixed_precision": mixed_precision}
    clf = CNNClassifier(**params, device=device, verbose=0, random_state=0,
                        callbacks=[("devices", devices)])
    augmenter = ImageAugmenter(horizontal_flip="alternate", crop_padding=2,
                               padding_mode="reflect", random_state=0)
    clf.fit(augmenter.fit_transform(X), y)
    assert devices.devices_ == {device}
    assert clf.score(X, y) >= 0.9
    np.testing.assert_array_equal(X, X_before)


@needs_cuda
def test_gpu_trained_model_predicts_the_same_on_the_cpu(tiny_images, tiny_classifier):
    X, y = tiny_images
    clf = tiny_classifier(device="cuda").fit(X, y)
    on_gpu = clf.predict_proba(X)
    buffer = io.BytesIO()
    joblib.dump(clf, buffer)
    buffer.seek(0)
    loaded = joblib.load(buffer)
    assert next(loaded.module_.parameters()).device.type == "cuda"
    loaded.module_.to("cpu")
    loaded.set_params(device="cpu")
    np.testing.assert_allclose(loaded.predict_proba(X), on_gpu, atol=1e-4)


def test_seeded_cpu_fit_leaves_the_gpus_alone(tiny_images, tiny_classifier, monkeypatch):
    # Asking torch.cuda for a generator's state initializes CUDA on that GPU; a fit on the CPU
    # must not, even where GPUs are visible (simulated here).
    touched = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "get_rng_state", lambda device="cuda": touched.append(device))
    monkeypatch.setattr(torch.cuda, "set_rng_state",
                        lambda state, device="cuda": touched.append(device))
    X, y = tiny_images
    tiny_classifier(device="cpu", optimizer="sgd", max_epochs=1, random_state=0).fit(X, y)
    assert touched == []

