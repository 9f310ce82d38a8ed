"""Grid search with parallel jobs: the same results, one torch thread per worker, Dask and Ray."""

import os

import joblib
import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from skorch.callbacks import Callback


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


@pytest.fixture
def single_torch_thread():
    """Run in-process fits with the one torch thread of a Dask or Ray worker.

    Dask's nanny starts each worker with OMP_NUM_THREADS=1 and Ray each actor that holds one
    CPU with OMP_NUM_THREADS=1; torch sizes its thread pool from it.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _grid(pipe, n_jobs, **params):
    return GridSearchCV(pipe, {"cnn__dropout": [0.0, 0.5]}, cv=3, n_jobs=n_jobs,
                        error_score="raise", **params)


def _fit_process(estimator, X, y):
    """A "score" that tells which process fitted (and scores) the estimator."""
    return float(os.getpid())


def _torch_threads(estimator, X, y):
    """A "score" that tells how many threads torch had where the estimator was scored."""
    return float(torch.get_num_threads())


def _in_ray_actor(estimator, X, y):
    """A "score" that is 1 in a Ray actor (such as the pool of Ray's joblib backend), else 0."""
    import ray

    return float(ray.get_runtime_context().get_actor_id() is not None)


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


def test_grid_search_on_a_dask_cluster(digits_split, digits_pipeline, single_torch_thread):
    distributed = pytest.importorskip("distributed")
    X, _, y, _ = digits_split
    pipe = digits_pipeline(max_epochs=2, random_state=0)
    # Real worker processes on loopback; each runs torch with one thread.
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        scoring = {"accuracy": "accuracy", "pid": _fit_process, "threads": _torch_threads}
        with joblib.parallel_backend("dask"):
            grid = _grid(pipe, -1, scoring=scoring, refit="accuracy").fit(X[:300], y[:300])
        workers = client.run(lambda: __import__("os").getpid())
    assert len(workers) == 2
    # Every fit ran in a worker of the cluster (not here, nor in joblib's local processes).
    fitted_in = {int(grid.cv_results_[f"split{i}_test_pid"][j]) for i in range(3) for j in range(2)}
    assert fitted_in <= set(workers.values()), (fitted_in, workers)
    assert os.getpid() not in fitted_in
    assert np.all(grid.cv_results_["mean_test_threads"] == 1)
    local = _grid(pipe, 1).fit(X[:300], y[:300])
    np.testing.assert_array_equal(grid.cv_results_["mean_test_accuracy"],
                                  local.cv_results_["mean_test_score"])


@pytest.fixture
def ray_cluster():
    """A local Ray instance of 2 CPUs, with Ray's joblib backend registered; shut down after."""
    ray = pytest.importorskip("ray")
    from ray.util.joblib import register_ray

    # address="local": a new instance here, never a cluster that RAY_ADDRESS points to.
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    register_ray()
    yield ray
    ray.shutdown()


def test_grid_search_on_a_ray_cluster(digits_split, digits_pipeline, single_torch_thread,
                                      ray_cluster):
    X, _, y, _ = digits_split
    pipe = digits_pipeline(max_epochs=2, random_state=0)
    scoring = {"accuracy": "accuracy", "pid": _fit_process, "threads": _torch_threads,
               "in_ray": _in_ray_actor}
    with joblib.parallel_backend("ray"):
        grid = _grid(pipe, 2, scoring=scoring, refit=False).fit(X[:300], y[:300])
    results = grid.cv_results_
    # Every fit ran in one of the pool's two Ray actors, with one torch thread.
    fitted_in = {int(results[f"split{i}_test_pid"][j]) for i in range(3) for j in range(2)}
    assert os.getpid() not in fitted_in
    assert 1 <= len(fitted_in) <= 2
    assert np.all(results["mean_test_in_ray"] == 1)
    assert np.all(results["mean_test_threads"] == 1)
    local = _grid(pipe, 1, refit=False).fit(X[:300], y[:300]).cv_results_
    for split in range(3):
        np.testing.assert_array_equal(results[f"split{split}_test_accuracy"],
                                      local[f"split{split}_test_score"])


class RecordThreads(Callback):
    """Stores torch's thread count seen during training in the net's history."""

    def on_epoch_end(self, net, **kwargs):
        net.history.record("torch_threads", torch.get_num_threads())


def test_grid_search_over_dropout_and_optimizer_with_two_jobs(digits_split, digits_pipeline):
    X_train, _, y_train, _ = digits_split
    grid = GridSearchCV(digits_pipeline(max_epochs=2, random_state=0),
                        {"cnn__dropout": [0.0, 0.5], "cnn__optimizer": ["adam", "sgd"]},
                        cv=3, n_jobs=2, error_score="raise")
    grid.fit(X_train[:600], y_train[:600])
    assert np.all(grid.cv_results_["mean_test_score"] > 0.3)  # chance: 0.1


def test_parallel_workers_do_not_oversubscribe_cores(digits_split, digits_pipeline):
    # GridSearchCV(n_jobs=2) fits in joblib's loky workers, which cap each worker's thread
    # pools at cpu_count // n_jobs; torch must follow that cap.
    X_train, _, y_train, _ = digits_split
    pipe = digits_pipeline(max_epochs=1, callbacks=[("threads", RecordThreads())])
    fitted = joblib.Parallel(n_jobs=2)(
        joblib.delayed(clone(pipe).fit)(X_train[:200], y_train[:200]) for _ in range(2))
    for model in fitted:
        assert model[-1].history[-1, "torch_threads"] == max(1, joblib.cpu_count() // 2)

