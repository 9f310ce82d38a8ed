"""Grad-CAM: maps of the right shape and range, that localize, that depend on the weights
(the model-randomization check), for each network family, leaving the estimator as it was."""

import copy

import numpy as np
import pytest
import torch
import torchvision
from scipy.stats import spearmanr
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from torch import nn

from sk_cnn import CNNClassifier, CNNRegressor, ImageNormalizer
from sk_cnn.datasets import load_digits_images
from sk_cnn.inspection import grad_cam
from sk_cnn.networks._backbones import BackboneNet

# Spearman rank correlation between the maps of the fitted digits pipeline below and those of
# the same network with re-initialized weights (Adebayo et al., "Sanity Checks for Saliency
# Maps", 2018), averaged over 200 held-out images and three re-initializations: measured 0.14
# for this seed; 0.01 to 0.23 over 3 training seeds x 3 re-initializations. A method that
# ignores the weights (an edge detector, the image itself) scores 1.
RANDOMIZATION_BOUND = 0.4


@pytest.fixture(scope="module")
def digits_pipe():
    X, y = load_digits_images()
    pipe = Pipeline([("norm", ImageNormalizer()),
                     ("cnn", CNNClassifier(conv_filters=(8, 16), max_epochs=10, verbose=0,
                                           random_state=0))])
    return pipe.fit(X[:1000], y[:1000]), X[1000:1200], y[1000:1200]


def _rgb(n=24, size=16, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 255, (n, size, size, 3)).astype(np.uint8),
            np.repeat(["a", "b", "c"], n // 3))


def _state(net):
    """What grad_cam must leave unchanged: weights and buffers, requires_grad, modes, grads."""
    module = net.module_
    return ({k: v.clone() for k, v in module.state_dict().items()},
            [p.requires_grad for p in module.parameters()],
            [m.training for m in module.modules()],
            [None if p.grad is None else p.grad.clone() for p in module.parameters()])


def _assert_unchanged(before, after):
    assert before[0].keys() == after[0].keys()
    assert all(torch.equal(before[0][k], after[0][k]) for k in before[0])
    assert before[1] == after[1] and before[2] == after[2]
    assert all((a is None and b is None) or torch.equal(a, b)
               for a, b in zip(before[3], after[3]))


def test_maps_have_the_image_size_and_lie_in_0_1(digits_pipe):
    pipe, X, _ = digits_pipe
    maps = grad_cam(pipe, X)
    assert maps.shape == (len(X), 8, 8) and maps.dtype == np.float32
    assert maps.min() >= 0 and np.allclose(maps.reshape(len(X), -1).max(axis=1), 1)
    # Batches (64 images by default) give the maps of images explained one batch at a time.
    np.testing.assert_allclose(grad_cam(pipe, X[:5]), maps[:5], atol=1e-5)


def test_a_pipeline_runs_its_transformers_first(digits_pipe):
    pipe, X, _ = digits_pipe
    X_copy = X.copy()
    maps = grad_cam(pipe, X)
    np.testing.assert_array_equal(X, X_copy)  # the caller's data is not changed
    np.testing.assert_array_equal(maps, grad_cam(pipe[-1], pipe[:-1].transform(X)))
    assert not np.allclose(maps, grad_cam(pipe[-1], X))  # raw pixels give other maps


def test_the_estimator_is_left_as_it_was(digits_pipe):
    pipe, X, _ = digits_pipe
    clf = pipe[-1]
    proba = pipe.predict_proba(X)
    clf.module_.features.block1.train()  # a mode other than predict's is restored too
    before = _state(clf)
    grad_cam(pipe, X)
    _assert_unchanged(before, _state(clf))
    np.testing.assert_array_equal(pipe.predict_proba(X), proba)


def test_maps_explain_the_target_class(digits_pipe):
    pipe, X, _ = digits_pipe
    predicted = pipe.predict(X)
    maps = grad_cam(pipe, X)
    np.testing.assert_array_equal(grad_cam(pipe, X, target="predicted"), maps)
    np.testing.assert_array_equal(grad_cam(pipe, X, target=predicted), maps)
    of_3 = grad_cam(pipe, X, target=3)
    np.testing.assert_array_equal(of_3[predicted == 3], maps[predicted == 3])
    assert not np.allclose(of_3[predicted != 3], maps[predicted != 3])
    with pytest.raises(ValueError, match=r"labels \[11\] that are not among the classes"):
        grad_cam(pipe, X, target=11)
    with pytest.raises(ValueError, match="one label per image"):
        grad_cam(pipe, X, target=predicted[:5])


def test_maps_of_a_fitted_network_change_when_its_weights_are_reinitialized(digits_pipe):
    pipe, X, _ = digits_pipe

    def randomized(seed):
        other = copy.deepcopy(pipe)
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            for module in other[-1].module_.modules():
                if hasattr(module, "reset_parameters"):
                    module.reset_parameters()
        return other

    def rank_correlation(a, b):
        return np.nanmean([spearmanr(u.ravel(), v.ravel()).statistic for u, v in zip(a, b)])

    maps = grad_cam(pipe, X)
    assert rank_correlation(maps, grad_cam(copy.deepcopy(pipe), X)) == pytest.approx(1)
    correlations = [rank_correlation(maps, grad_cam(randomized(seed), X)) for seed in range(3)]
    assert np.mean(correlations) < RANDOMIZATION_BOUND, correlations


def test_maps_find_the_object_of_the_class():
    # A bright 4x4 square at a random place in noise (class 1) or no square (class 0).
    def squares(n, seed):
        rng = np.random.default_rng(seed)
        X = rng.uniform(0, 0.3, (n, 16, 16)).astype(np.float32)
        y, corner = np.tile([0, 1], n // 2), rng.integers(0, 12, (n, 2))
        for i in np.flatnonzero(y):
            X[i, corner[i, 0]:corner[i, 0] + 4, corner[i, 1]:corner[i, 1] + 4] = 1
        return X, y, corner

    X, y, _ = squares(400, 0)
    clf = CNNClassifier(conv_filters=(8, 16), max_epochs=6, batch_size=32, verbose=0,
                        random_state=0).fit(X, y)
    X, y, corner = squares(40, 1)
    assert clf.score(X, y) > 0.9
    maps = grad_cam(clf, X[y == 1])
    peaks = np.array([np.unravel_index(m.argmax(), m.shape) for m in maps])
    inside = np.all((peaks >= corner[y == 1] - 1) & (peaks <= corner[y == 1] + 4), axis=1)
    assert inside.mean() >= 0.9  # measured: 1.0


def test_the_default_layer_is_the_last_with_more_than_one_position():
    # 8x8 digits through four pooled blocks: the last activation is 1x1, the one before 2x2.
    X, y = load_digits_images()
    clf = CNNClassifier(conv_filters=(4, 4, 4, 4), max_epochs=1, verbose=0,
                        random_state=0).fit(X[:300], y[:300])
    maps = grad_cam(clf, X[:10])
    np.testing.assert_array_equal(maps, grad_cam(clf, X[:10], layer="features.block3.act"))
    assert maps.max() == 1
    assert not grad_cam(clf, X[:10], layer="features.block4.act").any()  # 1x1: nowhere
    with pytest.raises(ValueError, match="layer must be None or the name of a layer"):
        grad_cam(clf, X[:10], layer="features.block9")
    with pytest.raises(ValueError, match=r"'head.output' outputs shape \(1, 10\)"):
        grad_cam(clf, X[:10], layer="head.output")


def _fit_module(module, X, y):
    return CNNClassifier(module=module, max_epochs=1, batch_size=8, verbose=0,
                         random_state=0).fit(X, y)


def _tiny_resnet():
    model = torchvision.models.ResNet(torchvision.models.resnet.BasicBlock, [1, 1, 1, 1],
                                      num_classes=3)
    net = BackboneNet(model, "fc", (32, 32))
    net.freeze(3)  # conv1, bn1, layer1
    return net


@pytest.mark.parametrize("family, make, layer", [
    ("plain CNN", None, "features.block2.act"),
    ("airbench", None, "blocks.1"),
    # 16x16 images resized to 32x32: layer4 is 1x1, layer3 2x2.
    ("torchvision ResNet, 3 stages frozen", _tiny_resnet, "model.layer3"),
    ("vision transformer", lambda: BackboneNet(torchvision.models.VisionTransformer(
        image_size=32, patch_size=8, num_layers=1, num_heads=2, hidden_dim=16, mlp_dim=32,
        num_classes=3), "heads", (32, 32)), "model.encoder.layers.encoder_layer_0.ln_1"),
    ("swin", lambda: BackboneNet(torchvision.models.SwinTransformer(
        patch_size=[4, 4], embed_dim=8, depths=[1, 1], num_heads=[1, 1], window_size=[2, 2],
        num_classes=3), "head", (32, 32)), "model.features.3"),
    ("own module", lambda: nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3)), "2"),
])
def test_each_network_family(family, make, layer):
    X, y = _rgb()
    if make is not None:
        clf = _fit_module(make(), X, y)
    else:
        clf = CNNClassifier(conv_filters=(8, 16), max_epochs=1, batch_size=8, verbose=0,
                            random_state=0, architecture="airbench" if family == "airbench"
                            else "plain").fit(X, y)
    proba = clf.predict_proba(X)
    before = _state(clf)
    maps = grad_cam(clf, X)
    _assert_unchanged(before, _state(clf))
    np.testing.assert_array_equal(clf.predict_proba(X), proba)
    assert maps.shape == (len(X), 16, 16)
    assert maps.min() >= 0 and maps.max() == 1
    np.testing.assert_array_equal(maps, grad_cam(clf, X, layer=layer))


def test_a_vision_transformers_block_outputs_reach_the_head_only_through_the_class_token():
    X, y = _rgb()
    clf = _fit_module(BackboneNet(torchvision.models.VisionTransformer(
        image_size=32, patch_size=8, num_layers=1, num_heads=2, hidden_dim=16, mlp_dim=32,
        num_classes=3), "heads", (32, 32)), X, y)
    assert not grad_cam(clf, X, layer="model.encoder.layers.encoder_layer_0").any()
    assert grad_cam(clf, X).any()  # ln_1: the tokens the last attention reads


def test_regressor_maps_explain_one_target():
    X, _ = _rgb()
    targets = np.stack([X[..., 0].mean(axis=(1, 2)), X[..., 1].mean(axis=(1, 2))], axis=1)
    reg = CNNRegressor(conv_filters=(4, 8), max_epochs=1, batch_size=8, verbose=0,
                       random_state=0).fit(X, targets)
    first, second = grad_cam(reg, X, target=0), grad_cam(reg, X, target=1)
    assert first.shape == (len(X), 16, 16) and not np.allclose(first, second)
    with pytest.raises(ValueError, match=r"an int in \[0, 1\], for a CNNRegressor of 2"):
        grad_cam(reg, X)
    single = CNNRegressor(conv_filters=(4,), max_epochs=1, batch_size=8, verbose=0,
                          random_state=0).fit(X, targets[:, 0])
    assert grad_cam(single, X).shape == (len(X), 16, 16)


def test_what_grad_cam_refuses():
    rng = np.random.default_rng(0)
    signals, y = rng.random((20, 30)).astype(np.float32), np.repeat([0, 1], 10)
    clf = CNNClassifier(input_type="signal", conv_filters=(4,), max_epochs=1, verbose=0,
                        random_state=0).fit(signals, y)
    with pytest.raises(ValueError, match="fitted on 1-D signals"):
        grad_cam(clf, signals)
    with pytest.raises(TypeError, match="needs a CNNClassifier or CNNRegressor"):
        grad_cam(LogisticRegression(), signals)
    with pytest.raises(NotFittedError):
        grad_cam(Pipeline([("cnn", CNNClassifier())]), signals)
