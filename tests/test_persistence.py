"""Pickle-free save/load, training backup and resume, divergence stop."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings

import joblib
import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from sklearn.decomposition import PCA
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, MinMaxScaler, StandardScaler
from skorch.callbacks import Callback

import sk_cnn
from sk_cnn import CNNClassifier, ImageAugmenter, ImageNormalizer, ImageReshaper


def test_pipeline_round_trip_gives_identical_predictions(tmp_path, digits_split):
    X_train, X_test, y_train, _ = digits_split
    labels = np.array(list("abcdefghij"))[y_train]
    pipe = Pipeline([
        ("scale", MinMaxScaler()), ("reshape", ImageReshaper(image_shape=(8, 8))),
        ("norm", ImageNormalizer()), ("aug", ImageAugmenter(horizontal_flip=False, crop_padding=1)),
        ("cnn", CNNClassifier(max_epochs=2, verbose=0, random_state=0, class_weight="balanced",
                              optimizer__weight_decay=1e-4)),
    ]).fit(X_train, labels)
    path = sk_cnn.save(pipe, tmp_path / "model.safetensors")
    loaded = sk_cnn.load(path)
    np.testing.assert_array_equal(loaded.predict_proba(X_test), pipe.predict_proba(X_test))
    np.testing.assert_array_equal(loaded.predict(X_test), pipe.predict(X_test))
    assert loaded[-1].history[-1, "valid_acc"] == pipe[-1].history[-1, "valid_acc"]
    assert loaded.get_params()["cnn__optimizer__weight_decay"] == 1e-4
    np.testing.assert_array_equal(loaded["norm"].mean_, pipe["norm"].mean_)


@pytest.mark.parametrize("make", [
    lambda: ImageReshaper(image_shape=(8, 8)), lambda: ImageNormalizer(mean="imagenet"),
    lambda: ImageAugmenter(brightness=0.1, random_state=3), lambda: StandardScaler(),
    lambda: PCA(n_components=5)])
def test_each_transformer_round_trips(tmp_path, make):
    rng = np.random.default_rng(0)
    is_images = isinstance(make(), ImageNormalizer)
    X = rng.random((20, 5, 5, 3) if is_images else (20, 64)).astype(np.float32)
    transformer = make().fit(X)
    loaded = sk_cnn.load(sk_cnn.save(transformer, tmp_path / "t.safetensors"))
    assert type(loaded) is type(transformer)
    assert loaded.get_params() == transformer.get_params()
    np.testing.assert_array_equal(loaded.transform(X), transformer.transform(X))


def test_classifier_alone_with_integer_labels(tmp_path, tiny_images, tiny_classifier):
    X, y = tiny_images
    clf = tiny_classifier(lr_schedule="onecycle").fit(X, y + 10)
    loaded = sk_cnn.load(sk_cnn.save(clf, tmp_path / "clf.safetensors"))
    np.testing.assert_array_equal(loaded.classes_, [10, 11])
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    assert loaded.input_dtype_ == np.uint8  # export_onnx/export_program read it


def test_unsupported_steps_get_a_clear_error(tmp_path, tiny_images, tiny_classifier):
    X, y = tiny_images
    pipe = Pipeline([("f", FunctionTransformer(np.sqrt)), ("cnn", tiny_classifier())]).fit(X, y)
    with pytest.raises(TypeError, match="FunctionTransformer cannot be saved without pickle"):
        sk_cnn.save(pipe, tmp_path / "m.safetensors")
    with pytest.raises(TypeError, match="callbacks"):
        sk_cnn.save(tiny_classifier(callbacks=[]).fit(X, y), tmp_path / "m.safetensors")


def test_tampered_and_foreign_files_are_refused(tmp_path, tiny_images, tiny_classifier):
    X, y = tiny_images
    path = sk_cnn.save(tiny_classifier().fit(X, y), tmp_path / "m.safetensors")
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF  # flip bits of the last weight
    (tmp_path / "tampered.safetensors").write_bytes(bytes(data))
    with pytest.raises(ValueError, match="modified or corrupted"):
        sk_cnn.load(tmp_path / "tampered.safetensors")

    joblib.dump({"a": 1}, tmp_path / "pickle.joblib")
    with pytest.raises(ValueError, match="not an sk_cnn model file"):
        sk_cnn.load(tmp_path / "pickle.joblib")
    import torch
    save_file({"w": torch.zeros(2)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(ValueError, match="not one written by sk_cnn.save"):
        sk_cnn.load(tmp_path / "other.safetensors")


def _rewritten(path, out, edit):
    """``path``'s model file with its configuration edited by ``edit`` and a valid digest,
    as another sk_cnn version could write it."""
    import torch
    from safetensors import safe_open

    from sk_cnn.io._codec import digest as _digest

    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata()
        tensors = {key: handle.get_tensor(key) for key in handle.keys()}
    config = json.loads(metadata["config"])
    edit(config)
    metadata.update(config=json.dumps(config), sk_cnn_version="9.9.0")
    metadata["sha256"] = _digest(metadata["config"], tensors)
    save_file({k: torch.as_tensor(v) for k, v in tensors.items()}, str(out), metadata=metadata)
    return out


def test_files_of_another_version_get_a_clear_error(tmp_path, tiny_images, tiny_classifier):
    X, y = tiny_images
    pipe = Pipeline([("norm", ImageNormalizer()), ("cnn", tiny_classifier())]).fit(X, y)
    path = sk_cnn.save(pipe, tmp_path / "m.safetensors")

    def rename_step_class(config):
        config["pipeline"][0][1]["estimator"] = "FutureTransformer"

    def add_parameter(config):
        config["pipeline"][1][1]["params"]["dict"]["future_option"] = 1

    for edit in (rename_step_class, add_parameter):
        with pytest.raises(ValueError, match=r"written by sk_cnn 9\.9\.0; this sk_cnn"):
            sk_cnn.load(_rewritten(path, tmp_path / "new.safetensors", edit))
    with pytest.raises(FileNotFoundError, match="No sk_cnn model file"):
        sk_cnn.load(tmp_path / "missing.safetensors")


def test_nan_loss_stops_with_a_clear_error(tiny_images, tiny_classifier):
    X, y = tiny_images
    with pytest.raises(FloatingPointError, match=r"epoch 1.*lower learning rate"):
        tiny_classifier(lr=1e30, optimizer="sgd", batch_norm=False).fit(
            X.astype(np.float32) * 1e30, y)


@pytest.mark.parametrize("how", ["fit", "partial_fit", "warm_start"])
def test_training_that_fails_leaves_the_fitted_model_as_it_was(tiny_images, tiny_classifier,
                                                               how):
    X, y = tiny_images
    X = X.astype(np.float32) / 255
    clf = tiny_classifier(optimizer="sgd", batch_norm=False).fit(X, y)
    proba, epochs = clf.predict_proba(X), len(clf.history)
    clf.set_params(lr=1e30, warm_start=how == "warm_start")
    with pytest.raises(FloatingPointError):  # diverges in its first epoch
        getattr(clf, "partial_fit" if how == "partial_fit" else "fit")(X * 1e30, y)
    np.testing.assert_array_equal(clf.predict_proba(X), proba)
    assert len(clf.history) == epochs
    clf.set_params(lr=None, warm_start=False).fit(X, y)  # and it trains normally again
    assert len(clf.history) == 2


class _Interrupt(Callback):
    def on_epoch_end(self, net, **kwargs):
        raise KeyboardInterrupt  # as Ctrl-C would, which skorch swallows


def test_interrupted_training_warns_that_the_network_is_partly_trained(tiny_images,
                                                                       tiny_classifier):
    X, y = tiny_images
    with pytest.warns(UserWarning, match=r"interrupted \(KeyboardInterrupt\) after 1 of 2"):
        clf = tiny_classifier(callbacks=[("interrupt", _Interrupt())]).fit(X, y)
    assert len(clf.history) == 1  # kept, as skorch does
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clf.set_params(callbacks=[]).fit(X, y)  # a complete fit: no warning


FIT_SCRIPT = """
import sys, time
import numpy as np
from skorch.callbacks import Callback
sys.path.insert(0, {repo!r})
from sk_cnn import CNNClassifier

class Slow(Callback):
    def on_epoch_end(self, net, **kwargs):
        time.sleep(0.4)

data = np.load({data!r})
CNNClassifier(conv_filters=(4, 8), max_epochs=8, batch_size=16, verbose=0, random_state=0,
              checkpoint_dir={directory!r}, callbacks=[("slow", Slow())]).fit(data["X"], data["y"])
"""


def test_killed_fit_resumes_from_its_backup(tmp_path, tiny_images):
    X, y = tiny_images
    np.savez(tmp_path / "data.npz", X=X, y=y)
    directory = tmp_path / "backup"
    script = FIT_SCRIPT.format(repo=os.getcwd(), data=str(tmp_path / "data.npz"),
                               directory=str(directory))
    process = subprocess.Popen([sys.executable, "-c", textwrap.dedent(script)])
    deadline = time.time() + 120
    while not _backups(directory) and time.time() < deadline and process.poll() is None:
        time.sleep(0.05)
    time.sleep(0.9)  # one or two more epochs
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert _backups(directory), "the killed fit left no backup"
    (backup,) = directory.glob("sk_cnn_backup_*.pt")
    saved = torch.load(backup, weights_only=True)
    done = len(json.loads(saved["history"])) - int(saved.get("call_start", 0))
    assert 0 < done < 8, f"the backup should hold some, not all, epochs (it holds {done})"

    class CountEpochs(Callback):
        def initialize(self):
            self.run_ = 0
            return self

        def on_epoch_end(self, net, **kwargs):
            self.run_ += 1

    counter = CountEpochs()
    params = dict(conv_filters=(4, 8), max_epochs=8, batch_size=16, verbose=0, random_state=0)
    resumed = CNNClassifier(checkpoint_dir=directory, callbacks=[("count", counter)],
                            **params).fit(X, y)
    assert counter.run_ == 8 - done, "the resumed fit did not continue where the backup ended"
    epochs = resumed.history[:, "epoch"]
    assert epochs == list(range(1, 9)), "epochs lost or repeated"
    assert not backup.exists(), "the backup is deleted once training completes"
    uninterrupted = CNNClassifier(**params).fit(X, y)
    np.testing.assert_allclose(resumed.history[:, "train_loss"],
                               uninterrupted.history[:, "train_loss"], rtol=1e-5)
    np.testing.assert_allclose(resumed.predict_proba(X), uninterrupted.predict_proba(X),
                               rtol=1e-5, atol=1e-6)


class _Crash(Callback):
    """Raises (as a kill would stop the fit) at the end of epoch ``at``; the backup is written."""

    def __init__(self, at, error=RuntimeError):
        self.at, self.error = at, error

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) == self.at:
            raise self.error("crash")


def _backups(directory):
    return sorted(p.name for p in directory.glob("sk_cnn_backup_*.pt"))


def test_fits_sharing_a_checkpoint_dir_each_resume_their_own_backup(tmp_path, tiny_images,
                                                                    tiny_classifier):
    # As in a grid search or a cross-validation: a failed fit's backup does not stand in the
    # way of the other fits, and running the failed one again resumes it.
    X, y = tiny_images
    crashing = tiny_classifier(max_epochs=4, checkpoint_dir=tmp_path,
                               callbacks=[("crash", _Crash(2))])
    with pytest.raises(RuntimeError, match="crash"):
        crashing.fit(X, y)
    assert len(_backups(tmp_path)) == 1
    other_data = tiny_classifier(checkpoint_dir=tmp_path).fit(X[::-1].copy(), y)
    other_model = tiny_classifier(checkpoint_dir=tmp_path, conv_filters=(4, 4)).fit(X, y)
    assert len(other_data.history) == len(other_model.history) == 2  # not resumed: their own
    assert len(_backups(tmp_path)) == 1  # theirs deleted once complete, the crashed one kept
    resumed = tiny_classifier(max_epochs=4, checkpoint_dir=tmp_path).fit(X, y)
    uninterrupted = tiny_classifier(max_epochs=4).fit(X, y)
    np.testing.assert_allclose(resumed.history[:, "train_loss"],
                               uninterrupted.history[:, "train_loss"], rtol=1e-6)
    assert _backups(tmp_path) == []
    # A folder that cannot be created is refused before any training.
    (tmp_path / "file").write_text("")
    with pytest.raises(ValueError, match="cannot be created"):
        tiny_classifier(checkpoint_dir=tmp_path / "file" / "sub").fit(X, y)


@pytest.mark.parametrize("params", [
    {"early_stopping": 1, "lr": 0.05, "validation_fraction": 0.25, "max_epochs": 30},
    {"weight_averaging": "lookahead", "max_epochs": 6}])
def test_resume_restores_early_stopping_and_weight_averaging(tmp_path, tiny_images,
                                                             tiny_classifier, params):
    X, y = tiny_images
    uninterrupted = tiny_classifier(**params).fit(X, y)
    at = min(3, len(uninterrupted.history) - 1)
    with pytest.raises(RuntimeError):
        tiny_classifier(checkpoint_dir=tmp_path, callbacks=[("crash", _Crash(at))],
                        **params).fit(X, y)
    resumed = tiny_classifier(checkpoint_dir=tmp_path, **params).fit(X, y)
    assert len(resumed.history) == len(uninterrupted.history)
    np.testing.assert_allclose(resumed.predict_proba(X), uninterrupted.predict_proba(X),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("content", [b"", b"garbage", "truncated"])
def test_damaged_backup_gets_a_clear_error(tmp_path, tiny_images, tiny_classifier, content):
    X, y = tiny_images
    with pytest.raises(RuntimeError):
        tiny_classifier(max_epochs=3, checkpoint_dir=tmp_path,
                        callbacks=[("crash", _Crash(1))]).fit(X, y)
    (path,) = tmp_path.glob("sk_cnn_backup_*.pt")
    path.write_bytes(path.read_bytes()[:100] if content == "truncated" else content)
    with pytest.raises(ValueError, match=rf"{path.name} cannot be read .*Delete it"):
        tiny_classifier(max_epochs=3, checkpoint_dir=tmp_path).fit(X, y)


def test_resuming_an_unseeded_fit_leaves_the_global_generator_alone(tmp_path, tiny_images,
                                                                    tiny_classifier):
    # An unseeded fit draws from the caller's generator; its resumption must not reset that
    # generator to the state the crashed process had saved.
    X, y = tiny_images
    with pytest.raises(RuntimeError):
        tiny_classifier(random_state=None, max_epochs=3, checkpoint_dir=tmp_path,
                        callbacks=[("crash", _Crash(1))]).fit(X, y)
    (path,) = tmp_path.glob("sk_cnn_backup_*.pt")
    backup = path.read_bytes()
    after = []
    for caller_seed in (1234, 999):  # the same backup resumed twice
        path.write_bytes(backup)
        torch.manual_seed(caller_seed)
        resumed = tiny_classifier(random_state=None, max_epochs=3,
                                  checkpoint_dir=tmp_path).fit(X, y)
        assert len(resumed.history) == 3 and not path.exists()  # it did resume
        after.append(torch.rand(3))
    assert not torch.equal(*after)


@pytest.mark.parametrize("hook", ["on_epoch_end", "on_batch_end"])
def test_interrupted_warm_start_fit_resumes_its_own_remaining_epochs(tmp_path, tiny_images,
                                                                     tiny_classifier, hook):
    X, y = tiny_images

    class Interrupt(Callback):  # Ctrl-C after epoch 5, or in the middle of epoch 6
        def __init__(self):
            self.armed = True

        def on_epoch_end(self, net, **kwargs):
            if hook == "on_epoch_end" and self.armed and len(net.history) == 5:
                self.armed = False
                raise KeyboardInterrupt  # skorch ends the fit quietly

        def on_batch_end(self, net, **kwargs):
            if hook == "on_batch_end" and self.armed and len(net.history) == 6:
                self.armed = False
                raise KeyboardInterrupt

    uninterrupted = tiny_classifier(max_epochs=3, warm_start=True).fit(X, y).fit(X, y)
    clf = tiny_classifier(max_epochs=3, warm_start=True, checkpoint_dir=tmp_path,
                          callbacks=[("interrupt", Interrupt())]).fit(X, y)
    with pytest.warns(UserWarning, match="interrupted"):
        clf.fit(X, y)  # the second call: epochs 4 and 5 done, then interrupted
    assert len(_backups(tmp_path)) == 1
    clf.fit(X, y)  # the same call again: the epochs it had left
    assert clf.history[:, "epoch"] == [1, 2, 3, 4, 5, 6]
    assert _backups(tmp_path) == []
    np.testing.assert_allclose(clf.predict_proba(X), uninterrupted.predict_proba(X), rtol=1e-5,
                               atol=1e-6)


class _FailAtTrainEnd(Callback):
    def on_train_end(self, net, **kwargs):
        raise RuntimeError("crash at the end")


@pytest.mark.parametrize("params", [{"weight_averaging": "lookahead"},
                                    {"early_stopping": 10, "validation_fraction": 0.25}])
def test_a_fit_failing_after_its_last_epoch_resumes_to_the_same_model(
        tmp_path, tiny_images, tiny_classifier, params):
    # The last epoch is not backed up: run again, the fit repeats it and ends as one that did
    # not fail (lookahead's final average, early stopping's best weights, the schedule's
    # learning rate put back for the next call).
    X, y = tiny_images
    uninterrupted = tiny_classifier(max_epochs=3, **params).fit(X, y)
    with pytest.raises(RuntimeError, match="crash at the end"):
        tiny_classifier(max_epochs=3, checkpoint_dir=tmp_path, **params,
                        callbacks=[("fail", _FailAtTrainEnd())]).fit(X, y)
    resumed = tiny_classifier(max_epochs=3, checkpoint_dir=tmp_path, **params).fit(X, y)
    np.testing.assert_allclose(resumed.predict_proba(X), uninterrupted.predict_proba(X),
                               rtol=1e-5, atol=1e-6)
    assert resumed.optimizer_.param_groups[0]["lr"] == 2e-3  # not cosine's last value, 0


def test_fits_with_other_augmentation_do_not_share_a_backup(tmp_path, tiny_images,
                                                            tiny_classifier):
    X, y = tiny_images
    augmented = Pipeline([("aug", ImageAugmenter(crop_padding=2, random_state=0)),
                          ("cnn", tiny_classifier(max_epochs=3, checkpoint_dir=tmp_path,
                                                  callbacks=[("crash", _Crash(2))]))])
    with pytest.raises(RuntimeError):
        augmented.fit(X, y)
    plain = tiny_classifier(max_epochs=3, checkpoint_dir=tmp_path).fit(X, y)
    np.testing.assert_allclose(plain.history[:, "train_loss"],
                               tiny_classifier(max_epochs=3).fit(X, y).history[:, "train_loss"],
                               rtol=1e-6)


def test_backups_written_at_the_same_time_do_not_collide(tmp_path, tiny_images,
                                                         tiny_classifier, monkeypatch):
    # Two identical fits (e.g. in two processes) write the same backup: here the second
    # writes and renames its file while the first is still writing its own.
    import sk_cnn.training._backup
    X, y = tiny_images
    second = tiny_classifier(max_epochs=3, checkpoint_dir=tmp_path).fit(X, y)
    second_backup = dict(second.callbacks_)["backup"]
    second_backup.start(second, torch.as_tensor(X), torch.as_tensor(y))
    from skorch.history import History
    second.history = History(second.history[:1])  # an epoch that is not the call's last
    save, calls = torch.save, []

    def save_while_the_other_writes(state, file):
        calls.append(file)
        if len(calls) == 1:
            second_backup.on_epoch_end(second)
        save(state, file)

    monkeypatch.setattr(sk_cnn.training._backup.torch, "save", save_while_the_other_writes)
    tiny_classifier(max_epochs=3, checkpoint_dir=tmp_path).fit(X, y)
    assert len(calls) == 3  # both wrote, and the fit went on


def test_a_validation_split_object_keeps_the_backup_name_across_processes():
    from skorch.dataset import ValidSplit

    from sk_cnn.training._backup import _stable_repr
    text = _stable_repr(ValidSplit(5, stratified=True))
    assert "0x" not in text and "cv=5" in text
    assert text != _stable_repr(ValidSplit(3, stratified=True))



def test_class_weight_dict_and_feature_names_round_trip(tmp_path, tiny_classifier):
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.random((24, 16)), columns=[f"px{i}" for i in range(16)])
    y = np.repeat([0, 1], 12)
    clf = tiny_classifier(class_weight={0: 1.0, 1: 3.0}, device=torch.device("cpu")).fit(X, y)
    loaded = sk_cnn.load(sk_cnn.save(clf, tmp_path / "clf.safetensors"))
    assert loaded.class_weight == {0: 1.0, 1: 3.0}
    assert loaded.get_params()["device"] == torch.device("cpu")
    np.testing.assert_array_equal(loaded.feature_names_in_, X.columns)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "X has feature names, but ..." warning
        np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    with pytest.raises(ValueError, match="feature names"):
        loaded.predict(X[X.columns[::-1]])


def test_loaded_model_trained_from_a_weights_file_continues_without_warning(
        tmp_path, tiny_images, tiny_classifier):
    X, y = tiny_images
    weights = sk_cnn.save_weights(tiny_classifier().fit(X, y), tmp_path / "w.pt")
    clf = tiny_classifier(weights=weights).fit(X, y)
    loaded = sk_cnn.load(sk_cnn.save(clf, tmp_path / "clf.safetensors"))
    assert loaded.weights == weights
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. "weights=... changed since fit built ..."
        loaded.partial_fit(X, y)


@pytest.mark.parametrize("optimizer, params", [
    ("adam", {}), ("sgd", {}), ("muon", {}),
    # 8 steps per call: lookahead averages after the 5th (with fewer, partial_fit's result
    # would be the average of the weights it started from, whatever the optimizer state).
    ("adam", {"lr_schedule": "cosine", "weight_averaging": "lookahead", "max_epochs": 2})])
def test_loaded_model_continues_training_as_the_saved_one(tmp_path, tiny_images,
                                                          tiny_classifier, optimizer, params):
    X, y = tiny_images
    clf = tiny_classifier(optimizer=optimizer, **{"max_epochs": 1, **params}).fit(X, y)
    loaded = sk_cnn.load(sk_cnn.save(clf, tmp_path / "clf.safetensors"))
    unpickled = joblib.load(joblib.dump(clf, tmp_path / "clf.joblib")[0])
    expected = clf.partial_fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(unpickled.partial_fit(X, y).predict_proba(X), expected)
    np.testing.assert_array_equal(loaded.partial_fit(X, y).predict_proba(X), expected)


def test_save_without_the_optimizer_state(tmp_path, tiny_images, tiny_classifier):
    X, y = tiny_images
    clf = tiny_classifier(max_epochs=1).fit(X, y)
    full = sk_cnn.save(clf, tmp_path / "full.safetensors")
    small = sk_cnn.save(clf, tmp_path / "small.safetensors", include_optimizer=False)
    assert os.path.getsize(small) < 0.5 * os.path.getsize(full)  # Adam: 2 moments per weight
    loaded = sk_cnn.load(small)
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    assert loaded.optimizer_.state_dict()["state"] == {}
    assert len(sk_cnn.load(full).optimizer_.state_dict()["state"]) == len(
        clf.optimizer_.state_dict()["state"])


def test_alternating_flips_go_on_after_load(tmp_path, tiny_images, tiny_classifier):
    X, y = tiny_images
    pipe = Pipeline([("aug", ImageAugmenter(horizontal_flip="alternate", random_state=0)),
                     ("cnn", tiny_classifier(max_epochs=1, warm_start=True))]).fit(X, y)
    loaded = sk_cnn.load(sk_cnn.save(pipe, tmp_path / "pipe.safetensors"))
    torch.testing.assert_close(loaded[-1]._first_epoch_flips, pipe[-1]._first_epoch_flips)
    expected = pipe.fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(loaded.fit(X, y).predict_proba(X), expected)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the fallback without CUDA")
def test_model_saved_on_a_gpu_loads_on_the_cpu(tmp_path, tiny_images, tiny_classifier):
    from skorch.exceptions import DeviceWarning
    X, y = tiny_images
    clf = tiny_classifier(max_epochs=1).fit(X, y)
    proba = clf.predict_proba(X)
    clf.set_params(device="cuda")  # the parameter a fit on a GPU leaves
    path = sk_cnn.save(clf, tmp_path / "gpu.safetensors")
    with pytest.warns(DeviceWarning, match="loaded with device='cpu'"):
        loaded = sk_cnn.load(path)
    assert loaded.get_params()["device"] == "cpu"
    np.testing.assert_array_equal(loaded.predict_proba(X), proba)


def test_load_leaves_the_global_random_generator_alone(tmp_path, tiny_images, tiny_classifier):
    X, y = tiny_images
    path = sk_cnn.save(tiny_classifier(max_epochs=1).fit(X, y), tmp_path / "m.safetensors")
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    sk_cnn.load(path)  # builds the network (random weights, then the saved ones)
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize("left_out", ["passthrough", None])
def test_pipeline_steps_left_out_round_trip(tmp_path, tiny_images, tiny_classifier, left_out):
    X, y = tiny_images
    pipe = Pipeline([("norm", ImageNormalizer()), ("aug", left_out),
                     ("cnn", tiny_classifier(max_epochs=1))]).fit(X, y)
    loaded = sk_cnn.load(sk_cnn.save(pipe, tmp_path / "pipe.safetensors"))
    assert loaded.steps[1] == ("aug", left_out)
    np.testing.assert_array_equal(loaded.predict_proba(X), pipe.predict_proba(X))


def test_a_users_early_stopping_ends_training_normally(tmp_path, tiny_images, tiny_classifier):
    from skorch.callbacks import EarlyStopping
    X, y = tiny_images
    stopper = EarlyStopping(monitor="train_loss", patience=1, threshold=10.0)  # stops at once
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # not "Training was interrupted"
        clf = tiny_classifier(max_epochs=8, checkpoint_dir=tmp_path,
                              callbacks=[("my_stop", stopper)]).fit(X, y)
    assert len(clf.history) == 2
    assert _backups(tmp_path) == []  # a completed fit deletes its backup


def test_failed_fits_put_back_a_module_given_as_an_instance(tiny_images):
    X, y = tiny_images
    X = X.astype(np.float32) / 255
    network = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12 * 12 * 3, 2))
    initial = {k: v.clone() for k, v in network.state_dict().items()}
    failing = CNNClassifier(module=network, max_epochs=2, verbose=0, random_state=0,
                            callbacks=[("crash", _Crash(1))])
    with pytest.raises(RuntimeError, match="crash"):
        failing.fit(X, y)  # a first fit: the instance is as it was given
    for key, value in network.state_dict().items():
        assert torch.equal(value, initial[key]), key
    clf = CNNClassifier(module=network, max_epochs=2, verbose=0, random_state=0).fit(X, y)
    proba = clf.predict_proba(X)
    clf.set_params(callbacks=[("crash", _Crash(1))])
    with pytest.raises(RuntimeError, match="crash"):
        clf.fit(X, y)  # skorch trains the same module object again
    assert clf.module_ is network
    np.testing.assert_array_equal(clf.predict_proba(X), proba)


def test_partial_fit_leaves_no_backup_for_a_later_fit(tmp_path, tiny_images, tiny_classifier):
    X, y = tiny_images
    clf = tiny_classifier(checkpoint_dir=tmp_path, callbacks=[("crash", _Crash(3))]).fit(X, y)
    with pytest.raises(RuntimeError, match="crash"):
        clf.partial_fit(X, y)  # crashes after its first epoch, the third
    assert _backups(tmp_path) == []  # partial_fit is not resumed: nothing to back up
    assert tiny_classifier(checkpoint_dir=tmp_path).fit(X, y).history[:, "epoch"] == [1, 2]


@pytest.mark.parametrize("what", [None, "passthrough"])
def test_nothing_to_save_is_refused(tmp_path, what):
    with pytest.raises(TypeError, match="cannot be saved"):
        sk_cnn.save(what, tmp_path / "m.safetensors")
