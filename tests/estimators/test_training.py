"""The fit flow: seeding, the history, early stopping, divergence and interruption."""

import warnings

import numpy as np
import pytest
import torch
from skorch.callbacks import Callback


def test_same_random_state_gives_identical_predictions(tiny_images, tiny_classifier):
    X, y = tiny_images
    torch_state = torch.get_rng_state()
    first = tiny_classifier(max_epochs=3).fit(X, y).predict_proba(X)
    second = tiny_classifier(max_epochs=3).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(first, second)
    assert torch.equal(torch.get_rng_state(), torch_state), "the caller's RNG was touched"
    other = tiny_classifier(max_epochs=3, random_state=1).fit(X, y).predict_proba(X)
    assert not np.array_equal(first, other)


def test_history_has_train_and_validation_curves(tiny_images, tiny_classifier):
    X, y = tiny_images
    clf = tiny_classifier(max_epochs=3, validation_fraction=0.25).fit(X, y)
    for key in ["train_loss", "valid_loss", "train_acc", "valid_acc"]:
        assert len(clf.history[:, key]) == 3
    assert all(0 <= a <= 1 for a in clf.history[:, "valid_acc"])
    assert clf.history[-1, "batches", -1, "valid_batch_size"] == 16  # 25% of 64, stratified


def test_without_validation_split(tiny_images, tiny_classifier):
    X, y = tiny_images
    clf = tiny_classifier(validation_fraction=None).fit(X, y)
    assert "valid_loss" not in clf.history[-1]
    assert sum(clf.history[-1, "batches", :, "train_batch_size"]) == 64


class RecordWeights(Callback):
    """Keeps a copy of the network's weights at the end of every epoch."""

    def on_train_begin(self, net, **kwargs):
        self.weights_ = []

    def on_epoch_end(self, net, **kwargs):
        self.weights_.append({k: v.clone() for k, v in net.module_.state_dict().items()})


def test_early_stopping_restores_best_weights(tiny_images, tiny_classifier):
    X, y = tiny_images
    record = RecordWeights()
    clf = tiny_classifier(max_epochs=30, early_stopping=2, lr=0.05, validation_fraction=0.25,
                          callbacks=[("record", record)]).fit(X, y)
    assert len(clf.history) < 30
    best = int(np.argmin(clf.history[:, "valid_loss"]))
    assert best < len(clf.history) - 1
    final = clf.module_.state_dict()
    for name, value in record.weights_[best].items():
        torch.testing.assert_close(final[name], value)
    assert any(not torch.equal(final[name], value)
               for name, value in record.weights_[-1].items())
    with pytest.raises(ValueError, match="early_stopping needs a validation split"):
        tiny_classifier(early_stopping=2, validation_fraction=0).fit(X, y)


def test_nan_loss_stops_with_a_clear_error(tiny_images, tiny_classifier):
    X, y = tiny_images
    with pytest.raises(FloatingPointError, match=r"epoch 1.*lower learning rate"):
        tiny_classifier(lr=1e30, optimizer="sgd", batch_norm=False).fit(
            X.astype(np.float32) * 1e30, y)


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

