"""Grid search determinism across n_jobs, and on a real Dask cluster (optional extra)."""

import joblib
import numpy as np
import pytest
import torch
from sklearn.model_selection import GridSearchCV


@pytest.fixture
def one_torch_thread():
    """Run in-process fits with the thread count that n_jobs=2 workers get on 2 cores.

    Seeds make the fits reproducible wherever they run; the float results of torch's CPU
    kernels also depend on the number of threads that split a reduction, so the serial run
    is compared at the workers' thread count (1 on this 2-core machine).
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, joblib.cpu_count() // 2))
    yield
    torch.set_num_threads(threads)


def _grid(pipe, n_jobs):
    return GridSearchCV(pipe, {"cnn__dropout": [0.0, 0.5]}, cv=3, n_jobs=n_jobs,
                        error_score="raise")


def test_grid_search_results_do_not_depend_on_n_jobs(digits_split, digits_pipeline,
                                                     one_torch_thread):
    X, _, y, _ = digits_split
    # On the CPU: GPU kernels (cuDNN) need not give bit-identical results run to run.
    pipe = digits_pipeline(max_epochs=3, random_state=0, device="cpu")
    serial = _grid(pipe, 1).fit(X[:600], y[:600]).cv_results_
    parallel = _grid(pipe, 2).fit(X[:600], y[:600]).cv_results_
    for split in range(3):
        key = f"split{split}_test_score"
        np.testing.assert_array_equal(serial[key], parallel[key])


def test_grid_search_on_a_dask_cluster(digits_split, digits_pipeline, one_torch_thread):
    distributed = pytest.importorskip("distributed")
    X, _, y, _ = digits_split
    pipe = digits_pipeline(max_epochs=2, random_state=0)
    # Real worker processes on loopback; each runs torch with one thread.
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        with joblib.parallel_backend("dask"):
            grid = _grid(pipe, -1).fit(X[:300], y[:300])
        workers = client.run(lambda: __import__("os").getpid())
    assert len(workers) == 2
    local = _grid(pipe, 1).fit(X[:300], y[:300])
    np.testing.assert_array_equal(grid.cv_results_["mean_test_score"],
                                  local.cv_results_["mean_test_score"])
