"""strategy="ddp": two CPU processes started by torchrun (gloo, one torch thread each) train
as one process does on the same batches (ddp_fit.py is the script they run)."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pytest
import torch
from sklearn.model_selection import cross_val_score

import sk_cnn
from sk_cnn.training._distributed import TORCHRUN_VARIABLES

pytestmark = pytest.mark.skipif(not torch.distributed.is_available(),
                                reason="this build of torch has no torch.distributed")

HERE = Path(__file__).parent
#: Largest difference allowed between a weight of the two-process fit and of the one-process
#: fit on the same batches: each batch's gradient is summed in two parts, then averaged, in
#: float32 (measured: 3e-8 at most; without the scaling of the loss of uneven parts, 5e-3).
TOLERANCE = 1e-6


def _worker_module():
    spec = importlib.util.spec_from_file_location("ddp_fit", HERE / "ddp_fit.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory):
    """Run ddp_fit.py in two processes; return its folder, the data and each rank's record."""
    out = tmp_path_factory.mktemp("ddp")
    rng = np.random.default_rng(0)
    X = rng.random((72, 10, 10), dtype=np.float32)
    y = np.repeat([0, 1, 2], 24)
    np.save(out / "X.npy", X)
    np.save(out / "y.npy", y)
    root = str(Path(sk_cnn.__file__).parents[1])  # the sk_cnn under test, in the workers too
    env = {key: value for key, value in os.environ.items() if key not in TORCHRUN_VARIABLES}
    env.update(PYTHONPATH=os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")])),
               OMP_NUM_THREADS="1")
    if sys.platform.startswith("linux"):  # gloo on the loopback, whatever the host's name says
        env.setdefault("GLOO_SOCKET_IFNAME", "lo")
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
         str(HERE / "ddp_fit.py"), str(out)],
        env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    records = [json.loads((out / f"rank{r}" / "record.json").read_text()) for r in (0, 1)]
    return out, X, y, records


def test_two_processes_train_as_one_process_on_the_same_batches(ddp_run):
    out, X, y, (rank0, rank1) = ddp_run
    worker = _worker_module()
    recorder = worker.RecordBatches()
    one = worker.classifier(callbacks=[("record", recorder)]).fit(X, y)
    # Every rank trained on its part of the batches one process makes, in the same order.
    assert [whole for whole, _ in rank0["batches"]] == [whole for whole, _ in recorder.batches_]
    assert [whole for whole, _ in rank1["batches"]] == [whole for whole, _ in recorder.batches_]
    sizes = set()
    for (whole, part0), (_, part1) in zip(rank0["batches"], rank1["batches"]):
        assert not set(part0) & set(part1)
        assert sorted(part0 + part1) == sorted(whole)
        sizes.add((len(part0), len(part1)))
    assert (5, 4) in sizes  # the last batch of 9 is split unevenly, and still averaged right
    weights = [torch.load(out / f"rank{r}" / "weights.pt") for r in (0, 1)]
    for name, value in one.module_.state_dict().items():
        assert torch.equal(weights[0]["plain"][name], weights[1]["plain"][name])
        assert torch.max(torch.abs(weights[0]["plain"][name] - value)) <= TOLERANCE, name
    assert rank0["train_loss"] == pytest.approx(one.history[:, "train_loss"], abs=TOLERANCE)
    assert rank0["valid_loss"] == pytest.approx(one.history[:, "valid_loss"], abs=TOLERANCE)
    assert rank1["train_loss"] == rank0["train_loss"]
    assert rank0["module"] == rank1["module"] == type(one.module_).__name__  # no DDP wrapper
    # Batch normalization (and weight averaging): per-rank statistics while training, rank
    # 0's kept, so the ranks end with the same weights and running statistics.
    for name, value in weights[0]["batch_norm"].items():
        assert torch.equal(value, weights[1]["batch_norm"][name]), name
    assert any("running_mean" in name for name in weights[0]["batch_norm"])
    assert rank0["batch_norm_valid_loss"] == rank1["batch_norm_valid_loss"]


def test_only_rank_0_writes_files(ddp_run):
    out, _, _, (rank0, rank1) = ddp_run
    # checkpoint_dir (a folder per rank here): rank 0 backed up epoch 1 and deleted the
    # backup when training completed; rank 1 did not even create its folder.
    assert [len(files) for files in rank0["files"]] == [1, 1]
    assert rank0["files"][0][0].startswith("sk_cnn_backup_")
    assert os.listdir(out / "rank0" / "checkpoints") == []
    assert rank1["files"] == [None, None]
    assert not (out / "rank1" / "checkpoints").exists()
    assert rank0["saved"] == str(out / "model0.safetensors")
    assert rank0["exported"] == str(out / "model0.pt2")
    assert rank1["saved"] is None and rank1["exported"] is None
    assert not (out / "model1.safetensors").exists() and not (out / "model1.pt2").exists()


def test_a_failed_fit_resumes_from_rank_0s_backup(ddp_run):
    out, _, _, (rank0, rank1) = ddp_run
    assert rank0["resumed_epochs"] == rank1["resumed_epochs"] == 2
    # Epochs 1 and 2 (failed), then only epoch 2: both ranks resumed after epoch 1.
    assert rank0["epochs_begun"] == rank1["epochs_begun"] == [1, 2, 2]
    assert not (out / "rank1" / "resume").exists()  # rank 1 read rank 0's backup
    for rank in (0, 1):
        weights = torch.load(out / f"rank{rank}" / "weights.pt")
        for name, value in weights["plain"].items():
            assert torch.equal(weights["resumed"][name], value), name


def test_the_fitted_model_saves_loads_and_exports(ddp_run):
    out, X, _, _ = ddp_run
    proba = np.load(out / "rank0" / "proba.npy")
    loaded = sk_cnn.load(out / "model0.safetensors")
    np.testing.assert_array_equal(loaded.predict_proba(X), proba)
    program = torch.export.load(out / "model0.pt2").module()
    np.testing.assert_allclose(program(torch.from_numpy(X)).numpy(), proba, atol=1e-6)
    # Loaded in one process, it trains there after strategy=None.
    loaded.set_params(strategy=None, max_epochs=1).partial_fit(X[:20], np.repeat([0, 1], 10))


def test_ddp_outside_torchrun_names_the_command(monkeypatch, tiny_images):
    for name in TORCHRUN_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    X, y = tiny_images
    clf = sk_cnn.CNNClassifier(strategy="ddp", max_epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"torchrun --nproc_per_node=2 .*strategy=None"):
        clf.fit(X, y)
    assert not hasattr(clf, "module_")


def test_ddp_in_a_joblib_worker_is_refused(tiny_images):
    # The workers of GridSearchCV(n_jobs=2) are none of torchrun's processes: a fit there
    # waited forever for the others.
    X, y = tiny_images
    clf = sk_cnn.CNNClassifier(strategy="ddp", max_epochs=1, verbose=0)
    with joblib.parallel_config(backend="threading"), pytest.raises(
            ValueError, match=r"worker of joblib .* n_jobs=1"):
        cross_val_score(clf, X, y, cv=2, n_jobs=2, error_score="raise")
