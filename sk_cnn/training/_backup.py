"""Back up a fit after every epoch and resume it after a crash (``checkpoint_dir``)."""

from __future__ import annotations

import functools
import hashlib
import io
import json
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
from skorch.callbacks import Callback, LRScheduler
from skorch.history import History

from .._skorch import EARLY_STOPPING_STATE
from ._distributed import broadcast_object, is_distributed, is_rank_0


class TrainingBackup(Callback):
    """Save the whole training state after every epoch; restore it when a fit is restarted.

    Like Keras' ``BackupAndRestore``: a fit interrupted by a crash or a kill resumes from the
    last completed epoch when it is started again with the same ``checkpoint_dir``; the backup
    is deleted once training completes. The state (weights, optimizer, history, the state of
    the schedule, early stopping and weight averaging, random number generators) is written to
    a temporary file, then renamed, so a kill during the write leaves the previous backup
    intact. It is read back with ``torch.load(weights_only=True)``.
    Under ``strategy="ddp"`` only the process of rank 0 writes, reads and deletes it.

    Each fit has a file of its own, named by a digest of what must match for a backup to
    belong to it (input shape, classes, training data, parameters): the fits of a grid search
    or a cross-validation can share a directory, and each resumes from its own backup.

    Parameters
    ----------
    directory : str or Path
        Where the backup lives.
    """

    PREFIX = "sk_cnn_backup_"

    def __init__(self, directory):
        self.directory = directory

    def start(self, net, X, y, augmentation=None, call_start=None, resumable=True):
        """Name this training call's backup file (``path_``) after a digest of the data (X, y
        tensors), the classes, the parameters, the augmentation and the epochs trained before
        the call (``call_start``, default: the history's length). A call that is not
        resumable (partial_fit) writes no backup."""
        self.call_start_ = len(net.history) if call_start is None else call_start
        self.resumable_ = resumable
        self.fingerprint_ = self._fingerprint(net, X, y, augmentation)
        name = hashlib.blake2b(self.fingerprint_.encode(), digest_size=8).hexdigest()
        self.path_ = Path(self.directory) / f"{self.PREFIX}{name}.pt"
        if resumable and _UNSTABLE in self.fingerprint_:
            warnings.warn(
                "checkpoint_dir: a parameter of this fit (a callback, say) holds an object "
                "without a stable description, so a backup could be resumed by a fit with "
                "other settings. This fit is not backed up. Give its objects plain attributes "
                "to back it up.", UserWarning, stacklevel=2)
            self.resumable_ = False
        self.writes_ = is_rank_0(getattr(net, "strategy", None))
        self._remove_stale_temporaries()

    def restore(self, net) -> int:
        """Load the backup into an initialized net; return the number of epochs the
        interrupted call completed (after :meth:`start`). Under ``strategy="ddp"`` rank 0
        reads it and sends it to the others."""
        distributed = is_distributed(getattr(net, "strategy", None))
        state, error = None, None
        if self.writes_:
            try:
                state = self._read(map_location="cpu" if distributed else net.device)
            except ValueError as exc:
                error = str(exc)
        if distributed:
            state, error = broadcast_object((state, error))
        if error is not None:
            raise ValueError(error)
        if state is None:
            return 0
        net.module_.load_state_dict(state["module"])
        net.optimizer_.load_state_dict(state["optimizer"])
        net.history = History(json.loads(state["history"]))
        net.validation_seed_ = int(state["validation_seed"])
        if net.random_state is not None:
            # Inside the fit's own random state (forked): an unseeded fit uses the caller's
            # global generators, which a backup must not reset.
            torch.set_rng_state(state["rng"].cpu())
            if state.get("cuda_rng") is not None and _on_cuda(net):
                torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda_rng"]])
        generator = net.augmentation_[1] if net.augmentation_ is not None else None
        if generator is not None and state.get("augmentation_rng") is not None:
            generator.set_state(state["augmentation_rng"].cpu())
        self.restored_ = state  # the schedule is restored when the next epoch begins
        # Epochs of earlier calls (warm_start) are in the history too: count this call's.
        return len(net.history) - self.call_start_

    def _read(self, map_location):
        """The state of this fit's backup file, or None when there is none."""
        if not self.path_.is_file():
            return None
        try:
            state = read_backup(self.path_, map_location=map_location)
        except Exception as exc:  # truncated, edited, not a backup: all mean damaged
            raise ValueError(
                f"The training backup {self.path_} cannot be read ({type(exc).__name__}: "
                f"{str(exc).splitlines()[0] if str(exc) else 'no detail'}). Delete it to "
                f"train from the start.") from None
        if state["fingerprint"] != self.fingerprint_:  # a digest collision
            raise ValueError(
                f"The training backup {self.path_} was written for another model or other "
                f"data. Delete it, or use another checkpoint_dir.")
        return state

    def on_epoch_begin(self, net, **kwargs):
        """After a restore, put the learning-rate schedule back where the backup left it."""
        state = getattr(self, "restored_", None)
        self.restored_ = None
        if state is None:
            return
        callbacks = dict(net.callbacks_)
        for name, values in state.get("callbacks", {}).items():
            if name in callbacks:  # set after their on_train_begin reset them
                vars(callbacks[name]).update(values)
        if state["scheduler"] is None:
            return
        scheduler = _lr_scheduler(net)
        if scheduler is not None:
            scheduler.load_state_dict(state["scheduler"])
            net.optimizer_.load_state_dict(state["optimizer"])  # undo the scheduler's first step

    def on_epoch_end(self, net, **kwargs):
        """Write the state atomically, after every epoch but the call's last: a call that
        fails after it (in ``on_train_end``, or killed) repeats that epoch when run again, and
        so ends as a call that did not fail (lookahead's final average, early stopping's best
        weights)."""
        if (not self.resumable_ or not self.writes_
                or len(net.history) - self.call_start_ >= net.max_epochs):
            return
        generator = net.augmentation_[1] if net.augmentation_ is not None else None
        scheduler = _lr_scheduler(net)
        state = {
            "fingerprint": self.fingerprint_,
            "call_start": self.call_start_,
            "module": net.module_.state_dict(),
            "optimizer": net.optimizer_.state_dict(),
            "history": json.dumps(net.history.to_list(), default=float),
            "validation_seed": net.validation_seed_,
            "rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if _on_cuda(net) else None,
            "callbacks": _callback_states(net),
            "augmentation_rng": generator.get_state() if generator is not None else None,
            "scheduler": scheduler.state_dict() if scheduler is not None else None,
        }
        buffer = io.BytesIO()
        torch.save(state, buffer)
        payload = buffer.getvalue()
        self.path_.parent.mkdir(parents=True, exist_ok=True)
        # A temporary file of its own (named after this process, which a later fit checks to
        # remove what a killed one left): identical fits may write the same backup at once.
        handle, temporary = tempfile.mkstemp(dir=self.path_.parent, suffix=".tmp",
                                             prefix=f"{self.path_.stem}-{os.getpid()}-")
        try:
            with os.fdopen(handle, "wb") as file:
                file.write(_HEADER + hashlib.sha256(payload).hexdigest().encode() + b"\n")
                file.write(payload)
            os.replace(temporary, self.path_)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def _fingerprint(self, net, X, y, augmentation) -> str:
        """What must match for a backup to belong to this training call: the data, its
        classes, the parameters, the augmentation, the epochs trained before it."""
        # Every parameter but those that change nothing in what is trained.
        params = {k: _stable_repr(v) for k, v in sorted(net.get_params(deep=False).items())
                  if k not in ("verbose", "checkpoint_dir", "warm_start")}
        classes = getattr(net, "classes_", None)  # None for a regressor
        fingerprint = [list(net.input_shape_),
                       None if classes is None else [str(c) for c in classes],
                       _data_digest(X, y), params, repr(augmentation), self.call_start_]
        weighted = getattr(net, "_sample_weight_of", None)  # the fit's sample_weight
        if weighted is not None:
            fingerprint.append(_data_digest(weighted[1]))
        return json.dumps(fingerprint)

    def discard(self):
        """Delete the backup (training completed)."""
        if not self.writes_:
            return
        if self.resumable_:
            self.path_.unlink(missing_ok=True)
        self._remove_stale_temporaries()

    def _remove_stale_temporaries(self):
        """Delete the temporary files of this fit's backup that a killed process left."""
        if not self.writes_:
            return
        for temporary in self.path_.parent.glob(f"{self.path_.stem}-*-*.tmp"):
            pid = temporary.name[len(self.path_.stem) + 1:].split("-", 1)[0]
            if pid.isdigit() and not _process_alive(int(pid)):
                temporary.unlink(missing_ok=True)


# What early stopping (skorch's) and weight averaging (sk_cnn's Lookahead) carry from one
# epoch to the next; the other callbacks start each epoch afresh or follow the history.
_CALLBACK_STATE = {
    "EarlyStopping": EARLY_STOPPING_STATE,
    "Lookahead": ("average_", "step_", "total_steps_"),
}


def _callback_states(net) -> dict:
    """``{callback name: {attribute: value}}`` of the callbacks in :data:`_CALLBACK_STATE`, as
    values ``torch.load(weights_only=True)`` reads (numpy scalars as Python numbers)."""
    return {name: {a: _plain(getattr(callback, a, None))
                   for a in _CALLBACK_STATE[type(callback).__name__]}
            for name, callback in net.callbacks_ if type(callback).__name__ in _CALLBACK_STATE}


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


def _on_cuda(net) -> bool:
    """Whether the net trains on a GPU (asking torch.cuda for its state initializes CUDA)."""
    return torch.device(net.device).type == "cuda" and torch.cuda.is_available()


def _lr_scheduler(net):
    """The torch scheduler of the net's LRScheduler callback, if any."""
    for _, callback in net.callbacks_:
        if isinstance(callback, LRScheduler) and getattr(callback, "lr_scheduler_", None):
            return callback.lr_scheduler_
    return None


# In a fingerprint, an object that _stable_repr cannot describe without its address.
_UNSTABLE = " at 0x"


def _stable_repr(value, depth: int = 0) -> str:
    """repr without memory addresses, so that the same settings give the same fingerprint in
    another process: containers item by item, classes and functions by name, a RandomState by
    type, other objects whose repr shows an address (skorch's callbacks and ValidSplit) by
    their class and settings (their attributes, fitted ones ending in "_" left out). What
    still shows an address cannot be described (see ``_UNSTABLE``)."""
    if isinstance(value, np.random.RandomState):
        return "RandomState"
    if isinstance(value, (list, tuple)):
        items = ", ".join(_stable_repr(v, depth + 1) for v in value)
        return f"[{items}]" if isinstance(value, list) else f"({items})"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_stable_repr(k, depth + 1)}: {_stable_repr(v, depth + 1)}"
                               for k, v in value.items()) + "}"
    if isinstance(value, type) or (callable(value) and hasattr(value, "__qualname__")):
        return f"{getattr(value, '__module__', '')}.{value.__qualname__}"
    if isinstance(value, functools.partial):
        return (f"partial({_stable_repr(value.func, depth + 1)}, "
                f"{[_stable_repr(v, depth + 1) for v in value.args]}, "
                f"{ {k: _stable_repr(v, depth + 1) for k, v in value.keywords.items()} })")
    text = repr(value)
    if _UNSTABLE in text and hasattr(value, "__dict__") and depth < 6:
        attributes = ", ".join(f"{k}={_stable_repr(v, depth + 1)}"
                               for k, v in sorted(vars(value).items()) if not k.endswith("_"))
        return f"{type(value).__module__}.{type(value).__qualname__}({attributes})"
    return text


def _data_digest(*tensors) -> str:
    """A digest of the training data (tensors), in chunks to bound the memory."""
    digest = hashlib.blake2b(digest_size=16)
    for tensor in tensors:
        tensor = torch.as_tensor(tensor)
        digest.update(f"{tuple(tensor.shape)}|{tensor.dtype}|".encode())
        for start in range(0, len(tensor), 4096):
            chunk = tensor[start:start + 4096].detach().cpu().contiguous()
            digest.update(chunk.view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


# A backup file: this line, the SHA-256 of the payload in hexadecimal and a newline, then the
# payload (torch.save of the state), so that a damaged backup is refused, not resumed.
_HEADER = b"sk_cnn training backup, sha256 "


def read_backup(path, map_location=None) -> dict:
    """The state a backup file holds, its digest checked (``torch.load``, weights only).

    Raises
    ------
    ValueError
        When the file is no backup or its content does not match its digest.
    """
    payload = _verified_payload(Path(path).read_bytes())
    return torch.load(io.BytesIO(payload), map_location=map_location, weights_only=True)


def _verified_payload(data: bytes) -> bytes:
    """The payload of a backup file, after checking its digest."""
    if not data.startswith(_HEADER):
        raise ValueError("not an sk_cnn training backup")
    digest, _, payload = data[len(_HEADER):].partition(b"\n")
    if digest.decode(errors="replace") != hashlib.sha256(payload).hexdigest():
        raise ValueError("its content does not match its digest")
    return payload


def _process_alive(pid: int) -> bool:
    """Whether process ``pid`` runs (on Windows, where no safe check exists, always True)."""
    if os.name == "nt":
        return True
    try:
        os.kill(pid, 0)  # signal 0: nothing is sent, the process is only looked up
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def check_backup_directory(directory) -> None:
    """Create ``directory`` (a ``checkpoint_dir``) if needed; refuse one that cannot be written,
    before any training (the backup is first written after an epoch)."""
    path = Path(directory)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"checkpoint_dir={os.fspath(directory)!r} cannot be created "
                         f"({exc.strerror or exc}). Give a folder you can write to.") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise ValueError(f"checkpoint_dir={os.fspath(directory)!r} is not writable. Give a "
                         f"folder you can write to.")
