"""Backups (checkpoint_dir): a killed or failed fit resumes where it stopped; each fit has its
own file."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings

import numpy as np
import pytest
import torch
from sklearn.pipeline import Pipeline
from skorch.callbacks import Callback

from sk_cnn import CNNClassifier, ImageAugmenter
from sk_cnn.training._backup import read_backup

FIT_SCRIPT = """
import sys, time
import numpy as np
from skorch.callbacks import Callback
sys.path.insert(0, {repo!r})
from sk_cnn import CNNClassifier

class Slow(Callback):
    def initialize(self):
        self.epochs_run_ = 0
        return self

    def on_epoch_end(self, net, **kwargs):
        self.epochs_run_ += 1
        time.sleep(0.4)

data = np.load({data!r})
slow = Slow()
clf = CNNClassifier(conv_filters=(4, 8), max_epochs=8, batch_size=16, verbose=0, random_state=0,
                    checkpoint_dir={directory!r}, callbacks=[("slow", slow)])
clf.fit(data["X"], data["y"])
np.savez({out!r}, epochs_run=slow.epochs_run_, epochs=clf.history[:, "epoch"],
         train_loss=clf.history[:, "train_loss"], proba=clf.predict_proba(data["X"]))
"""


def test_killed_fit_resumes_from_its_backup(tmp_path, tiny_images):
    X, y = tiny_images
    np.savez(tmp_path / "data.npz", X=X, y=y)
    directory = tmp_path / "backup"
    script = textwrap.dedent(FIT_SCRIPT.format(
        repo=os.getcwd(), data=str(tmp_path / "data.npz"), directory=str(directory),
        out=str(tmp_path / "resumed.npz")))
    process = subprocess.Popen([sys.executable, "-c", script])
    deadline = time.time() + 120
    while not _backups(directory) and time.time() < deadline and process.poll() is None:
        time.sleep(0.05)
    time.sleep(0.9)  # one or two more epochs
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert _backups(directory), "the killed fit left no backup"
    (backup,) = directory.glob("sk_cnn_backup_*.pt")
    saved = read_backup(backup)
    done = len(json.loads(saved["history"])) - int(saved.get("call_start", 0))
    assert 0 < done < 8, f"the backup should hold some, not all, epochs (it holds {done})"

    subprocess.run([sys.executable, "-c", script], check=True)  # the same fit, run again
    with np.load(tmp_path / "resumed.npz") as resumed:
        assert resumed["epochs_run"] == 8 - done, "it did not continue where the backup ended"
        assert resumed["epochs"].tolist() == list(range(1, 9)), "epochs lost or repeated"
        assert not backup.exists(), "the backup is deleted once training completes"
        uninterrupted = CNNClassifier(conv_filters=(4, 8), max_epochs=8, batch_size=16,
                                      verbose=0, random_state=0).fit(X, y)
        np.testing.assert_allclose(resumed["train_loss"], uninterrupted.history[:, "train_loss"],
                                   rtol=1e-5)
        np.testing.assert_allclose(resumed["proba"], uninterrupted.predict_proba(X), rtol=1e-5,
                                   atol=1e-6)


def _backups(directory):
    return sorted(p.name for p in directory.glob("sk_cnn_backup_*.pt"))


def test_fits_sharing_a_checkpoint_dir_each_resume_their_own_backup(tmp_path, tiny_images,
                                                                    tiny_classifier, crash):
    # As in a grid search or a cross-validation: a failed fit's backup does not stand in the
    # way of the other fits, and running the failed one again resumes it.
    X, y = tiny_images
    callbacks = [("crash", crash(2))]
    crashing = tiny_classifier(max_epochs=4, checkpoint_dir=tmp_path, callbacks=callbacks)
    with pytest.raises(RuntimeError, match="crash"):
        crashing.fit(X, y)
    assert len(_backups(tmp_path)) == 1
    other_data = tiny_classifier(checkpoint_dir=tmp_path).fit(X[::-1].copy(), y)
    other_model = tiny_classifier(checkpoint_dir=tmp_path, conv_filters=(4, 4)).fit(X, y)
    assert len(other_data.history) == len(other_model.history) == 2  # not resumed: their own
    assert len(_backups(tmp_path)) == 1  # theirs deleted once complete, the crashed one kept
    resumed = tiny_classifier(max_epochs=4, checkpoint_dir=tmp_path, callbacks=callbacks)
    resumed.fit(X, y)
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
                                                             tiny_classifier, params, crash):
    X, y = tiny_images
    uninterrupted = tiny_classifier(**params).fit(X, y)
    at = min(3, len(uninterrupted.history) - 1)
    callbacks = [("crash", crash(at))]
    with pytest.raises(RuntimeError):
        tiny_classifier(checkpoint_dir=tmp_path, callbacks=callbacks, **params).fit(X, y)
    resumed = tiny_classifier(checkpoint_dir=tmp_path, callbacks=callbacks, **params).fit(X, y)
    assert len(resumed.history) == len(uninterrupted.history)
    np.testing.assert_allclose(resumed.predict_proba(X), uninterrupted.predict_proba(X),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("content", [b"", b"garbage", "truncated"])
def test_damaged_backup_gets_a_clear_error(tmp_path, tiny_images, tiny_classifier, content, crash):
    X, y = tiny_images
    callbacks = [("crash", crash(1))]
    with pytest.raises(RuntimeError):
        tiny_classifier(max_epochs=3, checkpoint_dir=tmp_path, callbacks=callbacks).fit(X, y)
    (path,) = tmp_path.glob("sk_cnn_backup_*.pt")
    path.write_bytes(path.read_bytes()[:100] if content == "truncated" else content)
    with pytest.raises(ValueError, match=rf"{path.name} cannot be read .*Delete it"):
        tiny_classifier(max_epochs=3, checkpoint_dir=tmp_path, callbacks=callbacks).fit(X, y)


def test_resuming_an_unseeded_fit_leaves_the_global_generator_alone(tmp_path, tiny_images,
                                                                    tiny_classifier, crash):
    # An unseeded fit draws from the caller's generator; its resumption must not reset that
    # generator to the state the crashed process had saved.
    X, y = tiny_images
    callbacks = [("crash", crash(1))]
    with pytest.raises(RuntimeError):
        tiny_classifier(random_state=None, max_epochs=3, checkpoint_dir=tmp_path,
                        callbacks=callbacks).fit(X, y)
    (path,) = tmp_path.glob("sk_cnn_backup_*.pt")
    backup = path.read_bytes()
    after = []
    for caller_seed in (1234, 999):  # the same backup resumed twice
        path.write_bytes(backup)
        torch.manual_seed(caller_seed)
        resumed = tiny_classifier(random_state=None, max_epochs=3, checkpoint_dir=tmp_path,
                                  callbacks=callbacks).fit(X, y)
        assert len(resumed.history) == 3 and not path.exists()  # it did resume
        after.append(torch.rand(3))
    assert not torch.equal(*after)


@pytest.mark.parametrize("hook", ["on_epoch_end", "on_batch_end"])
def test_interrupted_warm_start_fit_resumes_its_own_remaining_epochs(tmp_path, tiny_images,
                                                                     tiny_classifier, hook):
    X, y = tiny_images

    class Interrupt(Callback):  # Ctrl-C after epoch 5, or in the middle of epoch 6
        def __init__(self):
            self.armed_ = True  # state, not a setting: not in a backup's fingerprint

        def on_epoch_end(self, net, **kwargs):
            if hook == "on_epoch_end" and self.armed_ and len(net.history) == 5:
                self.armed_ = False
                raise KeyboardInterrupt  # skorch ends the fit quietly

        def on_batch_end(self, net, **kwargs):
            if hook == "on_batch_end" and self.armed_ and len(net.history) == 6:
                self.armed_ = False
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
                                                            tiny_classifier, crash):
    X, y = tiny_images
    augmented = Pipeline([("aug", ImageAugmenter(crop_padding=2, random_state=0)),
                          ("cnn", tiny_classifier(max_epochs=3, checkpoint_dir=tmp_path,
                                                  callbacks=[("crash", crash(2))]))])
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


def test_partial_fit_leaves_no_backup_for_a_later_fit(tmp_path, tiny_images, tiny_classifier,
                                                      crash):
    X, y = tiny_images
    clf = tiny_classifier(checkpoint_dir=tmp_path, callbacks=[("crash", crash(3))]).fit(X, y)
    with pytest.raises(RuntimeError, match="crash"):
        clf.partial_fit(X, y)  # crashes after its first epoch, the third
    assert _backups(tmp_path) == []  # partial_fit is not resumed: nothing to back up
    assert tiny_classifier(checkpoint_dir=tmp_path).fit(X, y).history[:, "epoch"] == [1, 2]




SIGNALS = np.random.default_rng(1).random((30, 20)).astype(np.float32)


TARGETS = np.random.default_rng(2).random(30)


def test_checkpoint_dir_backs_up_a_regressor(tmp_path, small_regressor):
    # The backup's fingerprint read classes_, which a regressor has not.
    class BackupSeen(Callback):
        def on_epoch_end(self, net, **kwargs):
            net.history.record("backup_files", len(list(tmp_path.iterdir())))

    reg = small_regressor(conv_filters=(4,), max_epochs=2, checkpoint_dir=tmp_path,
                     callbacks=[("seen", BackupSeen())])
    reg.fit(SIGNALS, TARGETS)
    assert reg.history[:, "backup_files"] == [1, 1]  # written after every epoch
    assert not any(tmp_path.iterdir())  # and discarded when training completes
    again = small_regressor(conv_filters=(4,), max_epochs=2).fit(SIGNALS, TARGETS)
    np.testing.assert_allclose(reg.predict(SIGNALS), again.predict(SIGNALS), rtol=1e-5)



def test_a_fit_with_other_callback_settings_does_not_resume_the_backup(tmp_path, tiny_images,
                                                                       tiny_classifier, crash):
    # A fit killed with StepLR(gamma=0.001) was resumed by one with gamma=0.5 and trained on
    # with the other schedule.
    from skorch.callbacks import LRScheduler

    X, y = tiny_images
    stop = crash(2)

    def step(gamma):
        return ("step", LRScheduler(policy=torch.optim.lr_scheduler.StepLR, step_size=1,
                                    gamma=gamma))

    with pytest.raises(RuntimeError, match="crash"):
        tiny_classifier(max_epochs=4, checkpoint_dir=tmp_path,
                        callbacks=[("crash", stop), step(0.001)]).fit(X, y)
    other = tiny_classifier(max_epochs=4, checkpoint_dir=tmp_path,
                            callbacks=[("crash", stop), step(0.5)]).fit(X, y)
    fresh = tiny_classifier(max_epochs=4, callbacks=[step(0.5)]).fit(X, y)
    np.testing.assert_allclose(other.history[:, "train_loss"], fresh.history[:, "train_loss"],
                               rtol=1e-6)
    assert len(_backups(tmp_path)) == 1  # the first fit's, for that fit to resume


def test_a_callback_without_a_stable_description_is_not_backed_up(tmp_path, tiny_images,
                                                                  tiny_classifier):
    class Holds(Callback):
        def __init__(self):
            self.thing = object()  # no attributes, a repr with its address

    X, y = tiny_images
    with pytest.warns(UserWarning, match="This fit is not backed up"):
        tiny_classifier(checkpoint_dir=tmp_path, callbacks=[("holds", Holds())]).fit(X, y)
    assert _backups(tmp_path) == []


def test_a_backup_with_changed_bytes_is_refused(tmp_path, tiny_images, tiny_classifier, crash):
    X, y = tiny_images
    callbacks = [("crash", crash(1))]
    with pytest.raises(RuntimeError):
        tiny_classifier(max_epochs=3, checkpoint_dir=tmp_path, callbacks=callbacks).fit(X, y)
    (path,) = tmp_path.glob("sk_cnn_backup_*.pt")
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 4] = bytes(b ^ 0x55 for b in data[middle:middle + 4])
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=rf"{path.name} cannot be read .*does not match its "
                                         rf"digest.*Delete it"):
        tiny_classifier(max_epochs=3, checkpoint_dir=tmp_path, callbacks=callbacks).fit(X, y)


def test_temporary_files_of_killed_writers_are_removed(tmp_path, tiny_images, tiny_classifier,
                                                       crash):
    X, y = tiny_images
    callbacks = [("crash", crash(1))]
    with pytest.raises(RuntimeError):
        tiny_classifier(max_epochs=3, checkpoint_dir=tmp_path, callbacks=callbacks).fit(X, y)
    (path,) = tmp_path.glob("sk_cnn_backup_*.pt")
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True)
    dead = tmp_path / f"{path.stem}-{finished.stdout.strip()}-abc.tmp"  # a killed writer's
    live = tmp_path / f"{path.stem}-{os.getpid()}-def.tmp"  # this process may be writing it
    other = tmp_path / f"sk_cnn_backup_0000000000000000-{finished.stdout.strip()}-x.tmp"
    for file in (dead, live, other):
        file.write_bytes(b"half a backup")
    tiny_classifier(max_epochs=3, checkpoint_dir=tmp_path, callbacks=callbacks).fit(X, y)
    assert not dead.exists() and live.exists() and other.exists()  # another fit's: its own
