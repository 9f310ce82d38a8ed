"""Shared fixtures: small, seeded data so that the suite stays fast on 2 CPU cores, and a
local HTTP server for the download tests."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from skorch.callbacks import Callback

from sk_cnn import CNNClassifier, CNNRegressor, ImageAugmenter, ImageNormalizer, ImageReshaper
from sk_cnn.recipes import airbench_params


class FileServer:
    """An HTTP server on 127.0.0.1 serving ``files`` (name -> bytes) at ``url``.

    The downloads under test are torch's and torchvision's real code; only the address is
    local. ``requests`` lists the names asked for; a name in ``truncate`` is first served
    cut in half (the connection dropped) that many times.
    """

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.truncate: dict[str, int] = {}
        self.requests: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - the name http.server calls
                name = self.path.lstrip("/")
                server.requests.append(name)
                body = server.files.get(name)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if server.truncate.get(name, 0) > 0:
                    server.truncate[name] -= 1
                    self.wfile.write(body[:len(body) // 2])
                    self.close_connection = True
                    return
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    """No test downloads unless it says so (the download tests use a server on 127.0.0.1)."""
    monkeypatch.setenv("SK_CNN_OFFLINE", "1")


@pytest.fixture
def file_server(monkeypatch, tmp_path):
    """A local HTTP server (``FileServer``), downloads allowed, and an empty torch hub cache."""
    monkeypatch.delenv("SK_CNN_OFFLINE")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.setattr("sk_cnn._download.RETRY_DELAY", 0.01)
    with FileServer() as server:
        yield server


@pytest.fixture(scope="session")
def digits_split():
    """sklearn digits as flat rows, 25% stratified hold-out (the core issue's protocol)."""
    X, y = load_digits(return_X_y=True)
    return train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)


def _digits_pipeline(**cnn_params):
    params = {"verbose": 0, **cnn_params}
    return Pipeline([
        ("reshape", ImageReshaper(image_shape=(8, 8))),
        ("norm", ImageNormalizer()),
        ("aug", ImageAugmenter(horizontal_flip=False, crop_padding=1)),
        ("cnn", CNNClassifier(**params)),
    ])


@pytest.fixture
def digits_pipeline():
    """Factory of the README's digits pipeline; CNNClassifier parameters may be overridden."""
    return _digits_pipeline


@pytest.fixture
def tiny_images():
    """64 RGB uint8 images (N, H, W, C) of 2 easily separated classes."""
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 32)
    X = rng.integers(0, 60, size=(64, 12, 12, 3)).astype(np.uint8)
    X[y == 1, :6] += 150  # class 1 is bright in the top half
    return X, y


def _tiny_classifier(**params):
    defaults = dict(conv_filters=(4, 8), max_epochs=2, batch_size=16, verbose=0, random_state=0)
    return CNNClassifier(**{**defaults, **params})


@pytest.fixture
def tiny_classifier():
    """Factory of a CNNClassifier small and short enough for unit tests."""
    return _tiny_classifier


@pytest.fixture
def small_regressor():
    """Factory of a CNNRegressor that learns the regression tests' tasks."""
    def make(**params):
        defaults = dict(conv_filters=(16, 32), max_epochs=10, verbose=0, random_state=0)
        return CNNRegressor(**{**defaults, **params})

    return make


@pytest.fixture
def tiny_airbench():
    """Factory of the airbench recipe scaled down to tiny images and batches of 16."""
    def make(**params):
        recipe = airbench_params(max_epochs=3)
        # The recipe's lr is for its batch size: scale it linearly to batches of 16.
        defaults = {**recipe, "conv_filters": (8, 16), "batch_size": 16,
                    "lr": recipe["lr"] * 16 / recipe["batch_size"], "verbose": 0,
                    "random_state": 0}
        return CNNClassifier(**{**defaults, **params})

    return make


@pytest.fixture
def two_frequency_signals():
    """Factory of signals whose class is their frequency."""
    def make(n=240, channels=2, length=64, seed=0):
        """Class 0 oscillates twice along the signal, class 1 five times, on channel 0 only;
        random phase and amplitude, Gaussian noise on every channel, channel 1 offset by 3."""
        rng = np.random.default_rng(seed)
        y = rng.integers(0, 2, n)
        t = np.linspace(0, 1, length, endpoint=False)
        freq = np.where(y == 0, 2, 5)[:, None]
        phase = rng.uniform(0, 2 * np.pi, (n, 1))
        X = rng.normal(0, 0.6, (n, channels, length))
        X[:, 0] += rng.uniform(0.5, 1.5, (n, 1)) * np.sin(2 * np.pi * freq * t + phase)
        X[:, 1] += 3.0
        return X.astype(np.float32), y

    return make


@pytest.fixture
def recorded_lrs():
    """The learning rates skorch's LRScheduler recorded in a history, per epoch or per batch."""
    def read(history):
        return [lr for row in history
                for lr in ([row["event_lr"]] if "event_lr" in row
                           else [b["event_lr"] for b in row["batches"] if "event_lr" in b])]

    return read


class _Crash(Callback):
    """Raises (as a kill would stop the fit) at the end of epoch ``at``, once: the same fit
    run again (with this callback) goes on, as a fit after a crash does."""

    def __init__(self, at, error=RuntimeError):
        self.at, self.error = at, error
        self.crashed_ = False  # state, not a setting: not in a backup's fingerprint

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) == self.at and not self.crashed_:
            self.crashed_ = True
            raise self.error("crash")


@pytest.fixture
def crash():
    """The callback class that crashes a fit at the end of a given epoch."""
    return _Crash


@pytest.fixture
def rewrite_model_file():
    """Rewrite an sk_cnn.save file: its configuration (a JSON dict) edited by ``edit``, its
    tensors by ``edit_tensors``, with the digest recomputed, as a program that edits files
    (or another sk_cnn version) could write it."""
    import json

    import torch
    from safetensors import safe_open
    from safetensors.torch import save_file

    from sk_cnn.io._codec import digest

    def rewrite(path, out, edit=None, edit_tensors=None, version=None):
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata()
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}
        config = json.loads(metadata["config"])
        if edit is not None:
            edit(config)
        if edit_tensors is not None:
            edit_tensors(tensors)
        metadata["config"] = json.dumps(config)
        if version is not None:
            metadata["sk_cnn_version"] = version
        metadata["sha256"] = digest(metadata["config"], tensors)
        save_file({k: torch.as_tensor(v).contiguous() for k, v in tensors.items()}, str(out),
                  metadata=metadata)
        return out

    return rewrite
