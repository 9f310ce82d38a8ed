"""The script that tests/training/test_distributed.py runs under torchrun (two CPU processes).

``python -m torch.distributed.run --standalone --nproc_per_node=2 ddp_fit.py OUT``: each rank
fits the classifier of :func:`classifier` on ``OUT/X.npy`` and ``OUT/y.npy`` with
``strategy="ddp"`` (then a batch-normalized one), and writes what the test checks into
``OUT/rank<r>/``: the batches it trained on, its checkpoint folder as seen after each epoch,
the weights of a fit that failed and was resumed from rank 0's backup,
its final weights, its predictions, and what ``sk_cnn.save`` and ``export_program``
returned.
"""

import json
import os
import sys
from pathlib import Path

import numpy as np
import torch
from skorch.callbacks import Callback

import sk_cnn

#: The classifier of the test; ``batch_size=15`` leaves a last batch of 9 (ranks get 5 and 4).
PARAMS = {"conv_filters": (4, 8), "batch_norm": False, "max_epochs": 2, "batch_size": 15,
          "validation_fraction": 0.25, "random_state": 0, "verbose": 0, "device": "cpu"}


class RecordBatches(Callback):
    """The positions of each training batch (all ranks) and of this rank's part of it, and the
    files in ``checkpoint_dir`` at the end of each epoch (after the backup is written)."""

    def __init__(self, checkpoint_dir=None):
        self.checkpoint_dir = checkpoint_dir

    def initialize(self):
        self.batches_, self.files_ = [], []
        return self

    def on_batch_begin(self, net, batch=None, training=None, **kwargs):
        if training:
            iterator = net._epoch_iterator_
            whole = getattr(iterator, "batch_indices_", None)
            whole = iterator.indices_ if whole is None else whole
            self.batches_.append([whole.tolist(), iterator.indices_.tolist()])

    def on_epoch_end(self, net, **kwargs):
        folder = Path(self.checkpoint_dir) if self.checkpoint_dir else None
        self.files_.append(sorted(p.name for p in folder.iterdir())
                           if folder is not None and folder.exists() else None)


class StopAtEpoch(Callback):
    """Fail when epoch ``epoch`` begins, as a crash would (once: ``armed_`` is then False);
    ``begun_`` lists the epochs begun."""

    def __init__(self, epoch):
        self.epoch = epoch
        self.armed_, self.begun_ = True, []

    def on_epoch_begin(self, net, **kwargs):
        self.begun_.append(len(net.history))
        if self.armed_ and len(net.history) == self.epoch:
            self.armed_ = False
            raise RuntimeError("stopped")


def classifier(**params):
    return sk_cnn.CNNClassifier(**{**PARAMS, **params})


def main(out):
    torch.set_num_threads(1)
    rank = int(os.environ["RANK"])
    X, y = np.load(out / "X.npy"), np.load(out / "y.npy")
    mine = out / f"rank{rank}"
    mine.mkdir()
    # A checkpoint folder per rank, to see which rank writes: the fits back up after epoch 1.
    checkpoints = mine / "checkpoints"
    recorder = RecordBatches(checkpoints)
    clf = classifier(strategy="ddp", checkpoint_dir=str(checkpoints),
                     callbacks=[("record", recorder)]).fit(X, y)
    batches, files = recorder.batches_, recorder.files_
    clf.set_params(callbacks=None)  # sk_cnn.save takes no callbacks (they can run code)
    saved = sk_cnn.save(clf, out / f"model{rank}.safetensors")
    exported = sk_cnn.export_program(clf, out / f"model{rank}.pt2")
    # A fit that fails in epoch 2, run again: rank 0 reads the backup of epoch 1 (rank 1 has
    # no folder) and sends it to rank 1; both go on as the fit above did.
    stop = StopAtEpoch(2)
    again = classifier(strategy="ddp", checkpoint_dir=str(mine / "resume"),
                       callbacks=[("stop", stop)])
    try:
        again.fit(X, y)
    except RuntimeError:
        pass
    resumed = again.fit(X, y)
    normed = classifier(strategy="ddp", batch_norm=True, weight_averaging="lookahead").fit(X, y)
    torch.save({"plain": clf.module_.state_dict(), "batch_norm": normed.module_.state_dict(),
                "resumed": resumed.module_.state_dict()},
               mine / "weights.pt")
    np.save(mine / "proba.npy", clf.predict_proba(X))
    (mine / "record.json").write_text(json.dumps({
        "batches": batches, "files": files, "module": type(clf.module_).__name__,
        "train_loss": clf.history[:, "train_loss"], "valid_loss": clf.history[:, "valid_loss"],
        "batch_norm_valid_loss": normed.history[:, "valid_loss"],
        "resumed_epochs": len(resumed.history), "epochs_begun": stop.begun_,
        "saved": None if saved is None else str(saved),
        "exported": None if exported is None else str(exported)}))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
