"""A frozen backbone runs once per fit, and once per data set with ``memory``."""

import warnings

import numpy as np
import pytest
import torch
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from torchvision.models.resnet import BasicBlock

from sk_cnn import CNNClassifier, CNNRegressor, ImageAugmenter

N, BATCH = 60, 16
PASS = -(-N // BATCH) * 8  # forward calls of resnet18's 8 blocks in one pass over N images


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (N, 16, 16, 3), dtype=np.uint8)
    return X, np.arange(N) % 3


@pytest.fixture
def block_calls():
    """Counts the forward calls of resnet blocks (the backbone's work)."""
    calls = []

    def count(module, args, output):
        if isinstance(module, BasicBlock):
            calls.append(len(args[0]))

    handle = torch.nn.modules.module.register_module_forward_hook(count)
    yield calls
    handle.remove()


def frozen_resnet(estimator=CNNClassifier, **params):
    params = dict(backbone="resnet18", freeze="backbone", max_epochs=3, batch_size=BATCH,
                  dropout=0.3, verbose=0, random_state=0) | params
    return estimator(**params)


@pytest.fixture(autouse=True)
def _random_frozen_weights_warn():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "freeze='backbone' with weights=None")
        yield


@pytest.mark.parametrize("estimator", [CNNClassifier, CNNRegressor])
def test_the_head_trains_on_features_computed_once(data, block_calls, estimator):
    X, y = data
    cached = frozen_resnet(estimator).fit(X, y)
    # Every image went through the backbone once (one pass, eval mode), not once an epoch.
    assert len(block_calls) == PASS and sum(block_calls) == 8 * N
    # The same fit through the whole network every epoch (unfreezing after the last epoch
    # keeps the backbone frozen throughout, and runs it on every batch).
    del block_calls[:]
    full = frozen_resnet(estimator, unfreeze_at_epoch=4).fit(X, y)
    assert sum(block_calls) == 3 * 8 * N  # training and validation batches, 3 epochs
    np.testing.assert_allclose(cached.history[:, "valid_loss"], full.history[:, "valid_loss"],
                               rtol=1e-5)
    np.testing.assert_allclose(cached.predict(X), full.predict(X), rtol=1e-5, atol=1e-6)
    for a, b in zip(cached.module_.parameters(), full.module_.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_sample_weight_reaches_the_head_trained_on_features(data):
    X, y = data
    weights = np.r_[np.zeros(10), np.ones(N - 10)]
    changed = y.copy()
    changed[:10] = (y[:10] + 1) % 3  # labels of zero-weight samples do not matter
    a = frozen_resnet(validation_fraction=None).fit(X, y, sample_weight=weights)
    b = frozen_resnet(validation_fraction=None).fit(X, changed, sample_weight=weights)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))


def test_memory_reuses_features_across_fits_and_grid_search(data, block_calls, tmp_path):
    X, y = data
    grid = {"dropout": [0.0, 0.5], "lr": [1e-3, 1e-2]}
    search = GridSearchCV(frozen_resnet(memory=str(tmp_path)), grid, cv=2).fit(X, y)
    # The backbone ran once per data set (the 2 training folds of 30 images, the refit's 60),
    # not once per candidate; scoring the 4 candidates on the 2 test folds runs the whole
    # network.
    assert sum(block_calls) == 8 * (30 + 30 + N) + 8 * 4 * N
    without_memory = GridSearchCV(frozen_resnet(), grid, cv=2).fit(X, y)
    np.testing.assert_allclose(search.cv_results_["mean_test_score"],
                               without_memory.cv_results_["mean_test_score"])
    del block_calls[:]
    frozen_resnet(memory=str(tmp_path), dropout=0.1).fit(X, y)
    assert not block_calls  # the same images and backbone: read from the cache
    frozen_resnet(memory=str(tmp_path), random_state=1).fit(X, y)
    assert sum(block_calls) == 8 * N  # other backbone weights: computed again


def test_augmented_training_runs_the_backbone_every_epoch(data, block_calls):
    X, y = data
    make_pipeline(ImageAugmenter(horizontal_flip=True, random_state=0),
                  frozen_resnet(max_epochs=1)).fit(X, y)
    assert sum(block_calls) == 8 * N  # the training and validation batches of the epoch
