"""A fit that fails leaves the estimator as it was: network, optimizer, history, frozen parts."""

import numpy as np
import pytest
import torch

from sk_cnn import CNNClassifier


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




def test_failed_fits_put_back_a_module_given_as_an_instance(tiny_images, crash):
    X, y = tiny_images
    X = X.astype(np.float32) / 255
    network = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12 * 12 * 3, 2))
    initial = {k: v.clone() for k, v in network.state_dict().items()}
    failing = CNNClassifier(module=network, max_epochs=2, verbose=0, random_state=0,
                            callbacks=[("crash", crash(1))])
    with pytest.raises(RuntimeError, match="crash"):
        failing.fit(X, y)  # a first fit: the instance is as it was given
    for key, value in network.state_dict().items():
        assert torch.equal(value, initial[key]), key
    clf = CNNClassifier(module=network, max_epochs=2, verbose=0, random_state=0).fit(X, y)
    proba = clf.predict_proba(X)
    clf.set_params(callbacks=[("crash", crash(1))])
    with pytest.raises(RuntimeError, match="crash"):
        clf.fit(X, y)  # skorch trains the same module object again
    assert clf.module_ is network
    np.testing.assert_array_equal(clf.predict_proba(X), proba)




SIGNALS = np.random.default_rng(1).random((30, 20)).astype(np.float32)


TARGETS = np.random.default_rng(2).random(30)


def test_a_refit_that_fails_before_training_leaves_the_fitted_model_as_it_was(small_regressor):
    reg = small_regressor(conv_filters=(4,), max_epochs=1).fit(SIGNALS, TARGETS)
    before = reg.predict(SIGNALS)
    with pytest.raises(ValueError, match="mirrors images"):  # fails after y was read
        reg.set_params(tta="flip").fit(SIGNALS, TARGETS * 1000 + 5000)
    with pytest.raises(ValueError, match="too small"):  # fails building the network
        reg.set_params(tta=None, padding="valid", kernel_size=7).fit(SIGNALS[:, :5], TARGETS)
    reg.set_params(padding="same", kernel_size=3)
    np.testing.assert_array_equal(reg.predict(SIGNALS), before)  # not 1000x, not (5,) input
    assert reg.input_shape_ == (20,) and reg.target_mean_ == pytest.approx(TARGETS.mean())

