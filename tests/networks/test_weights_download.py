"""Pretrained weights are downloaded into the torch hub cache by torch's own code, from a
server on 127.0.0.1 here: hash-checked, retried when cut off, refused when corrupt, and read
offline once cached."""

import hashlib
import io
from pathlib import Path

import numpy as np
import pytest
import torch
from torchvision.models import ResNet18_Weights, get_model

from sk_cnn import CNNClassifier
from sk_cnn.exceptions import DownloadError
from sk_cnn.networks._weights import load_weights

RNG = np.random.default_rng(0)
X = RNG.integers(0, 256, size=(16, 32, 32, 3), dtype=np.uint8)
Y = np.arange(16) % 2


def _state_file(model="resnet18", seed=3):
    """A state dict's bytes and the hub-style name carrying their SHA-256 prefix."""
    torch.manual_seed(seed)
    state = get_model(model, weights=None).state_dict()
    buffer = io.BytesIO()
    torch.save(state, buffer)
    body = buffer.getvalue()
    return state, body, f"{model}-{hashlib.sha256(body).hexdigest()[:8]}.pth"


def _checkpoints():
    return Path(torch.hub.get_dir()) / "checkpoints"


def test_an_address_is_downloaded_once_then_read_offline(file_server, monkeypatch):
    state, body, name = _state_file()
    file_server.files[name] = body
    loaded = load_weights(f"{file_server.url}/{name}")
    torch.testing.assert_close(loaded["conv1.weight"], state["conv1.weight"])
    assert (_checkpoints() / name).read_bytes() == body
    monkeypatch.setenv("SK_CNN_OFFLINE", "1")
    again = load_weights(f"{file_server.url}/{name}")
    torch.testing.assert_close(again["conv1.weight"], state["conv1.weight"])
    assert file_server.requests == [name]


def test_a_download_cut_off_is_tried_again(file_server):
    _, body, name = _state_file()
    file_server.files[name] = body
    file_server.truncate[name] = 2
    load_weights(f"{file_server.url}/{name}")
    assert file_server.requests == [name] * 3
    assert (_checkpoints() / name).read_bytes() == body


def test_a_corrupt_file_is_refused_and_not_kept(file_server):
    _, body, name = _state_file()
    file_server.files[name] = body[:-10] + b"0123456789"
    with pytest.raises(DownloadError, match=r"(?s)3 attempts.*invalid hash value"):
        load_weights(f"{file_server.url}/{name}")
    assert not _checkpoints().exists() or not any(_checkpoints().iterdir())


def test_a_missing_file_is_not_tried_again(file_server):
    with pytest.raises(DownloadError, match=r"(?s)1 attempt;.*HTTP Error 404"):
        load_weights(f"{file_server.url}/resnet18-00000000.pth")
    assert len(file_server.requests) == 1


def test_offline_refuses_with_the_file_and_where_to_put_it(file_server, monkeypatch):
    monkeypatch.setenv("SK_CNN_OFFLINE", "1")
    with pytest.raises(FileNotFoundError,
                       match=r"SK_CNN_OFFLINE is set.*resnet18-f37072fd\.pth.*checkpoints"):
        CNNClassifier(backbone="resnet18", weights="DEFAULT", max_epochs=1,
                      verbose=0).fit(X, Y)
    assert file_server.requests == []


def test_a_torchvision_name_downloads_torchvision_file_with_its_hash_check(file_server,
                                                                           monkeypatch):
    # The mirror serves a file under torchvision's name that is not torchvision's: the
    # name's hash refuses it, at fit, with the file's name and no file left behind.
    monkeypatch.setenv("SK_CNN_DOWNLOAD_MIRROR", file_server.url + "/")
    official = ResNet18_Weights.IMAGENET1K_V1.url.rsplit("/", 1)[-1]
    file_server.files[official] = _state_file()[1]
    with pytest.raises(DownloadError, match=r"resnet18 IMAGENET1K_V1.*invalid hash"):
        CNNClassifier(backbone="resnet18", weights="DEFAULT", max_epochs=1,
                      verbose=0).fit(X, Y)
    assert set(file_server.requests) == {official}
    assert not (_checkpoints() / official).exists()


def test_an_estimator_trains_from_downloaded_weights(file_server):
    state, body, name = _state_file()
    file_server.files[name] = body
    clf = CNNClassifier(backbone="resnet18", weights=f"{file_server.url}/{name}",
                        max_epochs=1, lr=1e-12, verbose=0).fit(X, Y)
    torch.testing.assert_close(clf.module_.model.layer1[0].conv1.weight.detach().cpu(),
                               state["layer1.0.conv1.weight"])
