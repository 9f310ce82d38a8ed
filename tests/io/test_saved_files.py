"""Files that sk_cnn 0.1.0's format wrote (tests/io/data, see make_saved_files.py there) still
load, predict as they did when written, and train on."""

from pathlib import Path

import numpy as np
import pytest

import sk_cnn

DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="module")
def expected():
    with np.load(DATA / "expected_outputs.npz") as outputs:
        return dict(outputs)


def test_classifier_pipeline_predicts_and_trains_as_written(expected):
    pipe = sk_cnn.load(DATA / "classifier_pipeline.safetensors")
    X = expected["classifier_X"]
    np.testing.assert_allclose(pipe.predict_proba(X), expected["classifier_proba"],
                               rtol=0, atol=1e-6)
    assert pipe[-1].classes_.tolist() == [str(c) for c in range(10)]
    assert pipe[-1]._first_epoch_flips is not None  # the alternating flips go on
    pipe[-1].partial_fit(pipe[:-1].transform(X), pipe.predict(X))
    assert len(pipe[-1].history) == 4  # two epochs more


def test_regressor_predicts_as_written(expected):
    reg = sk_cnn.load(DATA / "regressor.safetensors")
    np.testing.assert_allclose(reg.predict(expected["regressor_X"]), expected["regressor_pred"],
                               rtol=0, atol=1e-6)
    assert reg.get_params()["criterion"] == "huber" and reg.n_outputs_ == 2


def test_airbench_pipeline_predicts_as_written(expected):
    pipe = sk_cnn.load(DATA / "airbench_pipeline.safetensors")
    np.testing.assert_allclose(pipe.predict_proba(expected["airbench_X"]),
                               expected["airbench_proba"], rtol=0, atol=1e-6)
    assert pipe[-1].get_params()["architecture"] == "airbench"
