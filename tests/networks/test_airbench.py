"""The airbench network: patch whitening, its blocks, its parameter groups, training it."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from torch import nn

from sk_cnn import ImageAugmenter, ImageNormalizer, export_program
from sk_cnn.networks._airbench import NORM_BIAS_LR_FACTOR, AirbenchNet, build_airbench
from sk_cnn.networks._whitening import image_patches, whitening_weights
from sk_cnn.training._callbacks import WhiteningBiasSchedule


def _correlated_images(n=40, c=3, size=10, seed=0):
    """Images whose channels and neighbouring pixels are strongly correlated."""
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, c, size + 1, size + 1, generator=g, dtype=torch.float64)
    X = X[..., 1:, 1:] + 0.8 * X[..., :-1, :-1]  # spatial correlation
    mix = torch.tensor([[1.0, 0.5, 0.2], [0.0, 1.0, 0.7], [0.3, 0.0, 1.0]], dtype=torch.float64)
    return torch.einsum("dc,nchw->ndhw", mix[:c, :c], X).float() * 3 + 1




# ------------------------------------------------------------------ whitening
def test_whitening_gives_identity_covariance_on_its_data():
    X = _correlated_images()
    weight = whitening_weights(X, 2, eps=1e-9)
    assert weight.shape == (24, 3, 2, 2)
    half = weight[:12]
    torch.testing.assert_close(weight[12:], -half)  # both signs
    out = F.conv2d(X.double(), half.double())  # (N, 12, H-1, W-1)
    flat = out.permute(0, 2, 3, 1).reshape(-1, 12)
    second_moment = flat.T @ flat / len(flat)
    torch.testing.assert_close(second_moment, torch.eye(12, dtype=torch.float64),
                               atol=1e-4, rtol=0)
    raw = image_patches(X.double(), 2)
    assert (raw.T @ raw / len(raw) - torch.eye(12, dtype=torch.float64)).abs().max() > 1


def test_whitening_eps_shrinks_small_directions_and_orders_by_variance():
    X = _correlated_images()
    out = F.conv2d(X, whitening_weights(X, 2, eps=5e-4)[:12])
    variances = out.pow(2).mean(dim=(0, 2, 3))
    assert torch.all(variances <= 1 + 1e-4)
    # Eigenvalues come largest first, so the shrinkage L / (L + eps) grows along the filters.
    assert variances[0] > variances[-1]


def test_network_init_whitening_sets_weights_and_flag():
    X = _correlated_images()
    net = AirbenchNet(3, 5, (8,))
    assert float(net.whitening_fitted) == 0
    assert not net.whiten.weight.requires_grad
    net.init_whitening(X)
    torch.testing.assert_close(net.whiten.weight.data, whitening_weights(X, 2))
    assert float(net.whitening_fitted) == 1
    assert "whitening_fitted" in net.state_dict()


# ------------------------------------------------------------------ network shape
@pytest.mark.parametrize("shape,filters", [((3, 32, 32), (32, 128, 128)), ((1, 9, 9), (4, 4, 4)),
                                           ((3, 20, 17), (4, 8)), ((4, 64, 48), (4, 8, 8))])
def test_airbench_output_shape(shape, filters):
    net = build_airbench(in_channels=shape[0], n_outputs=7, input_size=shape[1:],
                         conv_filters=filters, activation="gelu")
    assert net(torch.randn((5,) + shape)).shape == (5, 7)
    assert net.whiten.out_channels == 2 * shape[0] * 4


def test_airbench_refuses_too_small_images_and_signals():
    with pytest.raises(ValueError, match="at least 9x9"):
        build_airbench(in_channels=3, n_outputs=2, input_size=(8, 8), conv_filters=(4, 4, 4),
                       activation="gelu")
    with pytest.raises(ValueError, match="needs images"):
        build_airbench(in_channels=1, n_outputs=2, input_size=(30,), conv_filters=(4,),
                       activation="gelu")


def test_norm_biases_get_their_own_learning_rate():
    net = build_airbench(in_channels=3, n_outputs=2, input_size=(16, 16), conv_filters=(4, 8),
                         activation="gelu")
    norm, other = net.optimizer_param_groups(lr=0.5, weight_decay=0.01)
    assert norm["lr"] == 0.5 * NORM_BIAS_LR_FACTOR
    assert norm["lr"] * norm["weight_decay"] == pytest.approx(0.5 * 0.01)
    norm_ids = {id(m.bias) for m in net.modules() if isinstance(m, nn.BatchNorm2d)}
    assert {id(p) for p in norm["params"]} == norm_ids
    assert id(net.whiten.bias) in {id(p) for p in other["params"]}
    frozen = {id(net.whiten.weight)} | {id(m.weight) for m in net.modules()
                                        if isinstance(m, nn.BatchNorm2d)}
    assert not frozen & {id(p) for g in (norm, other) for p in g["params"]}


def test_whitening_bias_is_trained_only_in_the_first_epochs():
    module = AirbenchNet(3, 2, (4,))
    callback = WhiteningBiasSchedule(epochs=3)
    trainable = []
    for epoch in range(1, 6):
        callback.on_epoch_begin(SimpleNamespace(module_=module, history=[None] * epoch))
        trainable.append(module.whiten.bias.requires_grad)
    assert trainable == [True, True, True, False, False]


def test_airbench_fit_learns_tiny_images(tiny_images, tiny_airbench):
    X, y = tiny_images
    Xn = ImageNormalizer().fit(X).transform(X)
    # On the CPU, where two fits with the same seed are identical (checked at the end).
    clf = tiny_airbench(max_epochs=8, device="cpu").fit(
        ImageAugmenter(crop_padding=1).fit_transform(Xn), y)
    assert isinstance(clf.module_, AirbenchNet)
    assert float(clf.module_.whitening_fitted) == 1
    assert clf.score(Xn, y) >= 0.9
    assert not clf.module_.whiten.bias.requires_grad  # frozen after epoch 3
    lookahead = dict(clf.callbacks_)["lookahead"]
    for name, value in clf.module_.state_dict().items():
        if value.is_floating_point():
            torch.testing.assert_close(value, lookahead.average_[name])
    groups = clf.optimizer_.param_groups
    assert groups[0]["initial_lr"] == pytest.approx(clf.lr * NORM_BIAS_LR_FACTOR)
    scheduler = dict(clf.callbacks_)["lr_scheduler"].lr_scheduler_
    assert scheduler.get_last_lr()[1] == pytest.approx(0.07 * clf.lr)  # end of the decay
    assert groups[1]["lr"] == pytest.approx(clf.lr)  # put back for a next partial_fit
    proba = clf.predict_proba(Xn[:5])
    assert proba.shape == (5, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)
    # Same seed, same whitening and predictions.
    again = tiny_airbench(max_epochs=8, device="cpu").fit(
        ImageAugmenter(crop_padding=1).fit_transform(Xn), y)
    torch.testing.assert_close(again.module_.whiten.weight, clf.module_.whiten.weight)
    np.testing.assert_allclose(again.predict_proba(Xn[:5]), proba, rtol=1e-5, atol=1e-6)


def test_warm_start_keeps_the_whitening(tiny_images, tiny_airbench):
    X, y = tiny_images
    clf = tiny_airbench(max_epochs=1).fit(X, y)
    before = clf.module_.whiten.weight.clone()
    clf.partial_fit(X[::-1].copy(), y[::-1])
    torch.testing.assert_close(clf.module_.whiten.weight, before)


def test_grid_search_over_architecture(tiny_images, tiny_airbench):
    X, y = tiny_images

    def is_airbench(estimator, X, y):
        return float(isinstance(estimator[-1].module_, AirbenchNet))

    # Both networks learn the images (measured: 1.0 in every fold); a candidate that fails
    # to build or train raises instead of being scored NaN.
    search = GridSearchCV(Pipeline([("norm", ImageNormalizer()),
                                    ("cnn", tiny_airbench(max_epochs=4))]),
                          {"cnn__architecture": ["plain", "airbench"]}, cv=2,
                          scoring={"accuracy": "accuracy", "airbench": is_airbench},
                          refit="accuracy", error_score="raise").fit(X, y)
    results = search.cv_results_
    assert [p["cnn__architecture"] for p in results["params"]] == ["plain", "airbench"]
    assert np.all(results["mean_test_accuracy"] >= 0.9), results["mean_test_accuracy"]
    # Each candidate trained the network it names.
    np.testing.assert_array_equal(results["mean_test_airbench"], [0.0, 1.0])
    best = search.best_estimator_["cnn"]
    expected = {"plain": nn.Sequential, "airbench": AirbenchNet}
    assert type(best.module_) is expected[search.best_params_["cnn__architecture"]]


@pytest.mark.parametrize("mixed_precision", [None, "bfloat16"])
def test_airbench_network_exports_with_flip_tta(tiny_images, tmp_path, mixed_precision,
                                                tiny_airbench):
    X, y = tiny_images
    pipe = Pipeline([("norm", ImageNormalizer()),
                     # The exported program runs on the CPU: compare with CPU predictions.
                     ("cnn", tiny_airbench(max_epochs=2, tta="flip", device="cpu",
                                            mixed_precision=mixed_precision))]).fit(X, y)
    program = torch.export.load(str(export_program(pipe, tmp_path / "m.pt2"))).module()
    exported = program(torch.from_numpy(X[:8])).numpy()
    # bfloat16 predictions differ from the float32 program by bfloat16 rounding ...
    np.testing.assert_allclose(exported, pipe.predict_proba(X[:8]), atol=1e-2)
    # ... and the program is the same weights' float32 predict_proba.
    pipe["cnn"].mixed_precision = None
    np.testing.assert_allclose(exported, pipe.predict_proba(X[:8]), rtol=1e-5, atol=1e-6)

