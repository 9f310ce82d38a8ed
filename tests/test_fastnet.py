"""The fast recipe: whitening, the airbench network, lookahead, schedule, TTA, estimator API."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.utils._param_validation import InvalidParameterError
from torch import nn

from sk_cnn import CNNClassifier, ImageAugmenter, ImageNormalizer, export_onnx, export_program
from sk_cnn.networks._airbench import NORM_BIAS_LR_FACTOR, AirbenchNet, build_airbench
from sk_cnn.networks._tta import tta_logits
from sk_cnn.networks._whitening import image_patches, whitening_weights
from sk_cnn.recipes import airbench_params
from sk_cnn.training._callbacks import WhiteningBiasSchedule
from sk_cnn.training._lookahead import Lookahead
from sk_cnn.training._schedules import _WarmupLinear


def _correlated_images(n=40, c=3, size=10, seed=0):
    """Images whose channels and neighbouring pixels are strongly correlated."""
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, c, size + 1, size + 1, generator=g, dtype=torch.float64)
    X = X[..., 1:, 1:] + 0.8 * X[..., :-1, :-1]  # spatial correlation
    mix = torch.tensor([[1.0, 0.5, 0.2], [0.0, 1.0, 0.7], [0.3, 0.0, 1.0]], dtype=torch.float64)
    return torch.einsum("dc,nchw->ndhw", mix[:c, :c], X).float() * 3 + 1


def _tiny_airbench(**params):
    recipe = airbench_params(max_epochs=3)
    # The recipe's lr is for its batch size: scale it linearly to batches of 16.
    defaults = {**recipe, "conv_filters": (8, 16), "batch_size": 16,
                "lr": recipe["lr"] * 16 / recipe["batch_size"], "verbose": 0, "random_state": 0}
    return CNNClassifier(**{**defaults, **params})


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
                         conv_filters=filters)
    assert net(torch.randn((5,) + shape)).shape == (5, 7)
    assert net.whiten.out_channels == 2 * shape[0] * 4


def test_airbench_refuses_too_small_images_and_signals():
    with pytest.raises(ValueError, match="at least 9x9"):
        build_airbench(in_channels=3, n_outputs=2, input_size=(8, 8), conv_filters=(4, 4, 4))
    with pytest.raises(ValueError, match="needs images"):
        build_airbench(in_channels=1, n_outputs=2, input_size=(30,))


def test_norm_biases_get_their_own_learning_rate():
    net = build_airbench(in_channels=3, n_outputs=2, input_size=(16, 16), conv_filters=(4, 8))
    norm, other = net.optimizer_param_groups(lr=0.5, weight_decay=0.01)
    assert norm["lr"] == 0.5 * NORM_BIAS_LR_FACTOR
    assert norm["lr"] * norm["weight_decay"] == pytest.approx(0.5 * 0.01)
    norm_ids = {id(m.bias) for m in net.modules() if isinstance(m, nn.BatchNorm2d)}
    assert {id(p) for p in norm["params"]} == norm_ids
    assert id(net.whiten.bias) in {id(p) for p in other["params"]}
    frozen = {id(net.whiten.weight)} | {id(m.weight) for m in net.modules()
                                        if isinstance(m, nn.BatchNorm2d)}
    assert not frozen & {id(p) for g in (norm, other) for p in g["params"]}


def test_norm_bias_groups_only_with_sgd(tiny_images):
    X, y = tiny_images
    sgd = _tiny_airbench(max_epochs=1, optimizer="sgd").fit(X, y)
    assert len(sgd.optimizer_.param_groups) == 2
    muon = _tiny_airbench(max_epochs=1).fit(X, y)  # the recipe's: Muon splits off the filters
    groups = muon.optimizer_.param_groups
    assert [g["muon"] for g in groups] == [False, False, True]
    assert groups[0]["initial_lr"] == pytest.approx(muon.lr * NORM_BIAS_LR_FACTOR)
    assert groups[2]["initial_lr"] == pytest.approx(0.05)  # Muon's default filter lr
    assert all(p.ndim == 4 for p in groups[2]["params"])
    adam = _tiny_airbench(max_epochs=1, optimizer="adam", lr=None).fit(X, y)
    assert len(adam.optimizer_.param_groups) == 1
    scheduler = dict(adam.callbacks_)["lr_scheduler"].lr_scheduler_
    assert scheduler.get_last_lr()[0] < 2e-3  # scheduled down by warmup_linear


def test_whitening_bias_is_trained_only_in_the_first_epochs():
    module = AirbenchNet(3, 2, (4,))
    callback = WhiteningBiasSchedule(epochs=3)
    trainable = []
    for epoch in range(1, 6):
        callback.on_epoch_begin(SimpleNamespace(module_=module, history=[None] * epoch))
        trainable.append(module.whiten.bias.requires_grad)
    assert trainable == [True, True, True, False, False]


# ------------------------------------------------------------------ lookahead, schedule
def test_lookahead_averages_every_few_steps():
    module = nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        module.weight.fill_(1.0)
    net = SimpleNamespace(module_=module)
    callback = Lookahead(every=2, decay_max=0.5)
    callback.on_train_begin(net)
    callback.total_steps_ = 4
    with torch.no_grad():
        module.weight.fill_(3.0)  # an optimizer step
    callback.on_batch_end(net, training=False)  # validation batches do not count
    callback.on_batch_end(net, training=True)
    assert module.weight.eq(3.0).all()  # only every 2nd step
    callback.on_batch_end(net, training=True)
    decay = 0.5 * (2 / 4) ** 3
    expected = decay * 1.0 + (1 - decay) * 3.0
    torch.testing.assert_close(module.weight.data, torch.full((1, 2), expected))
    torch.testing.assert_close(callback.average_["weight"], torch.full((1, 2), expected))
    with torch.no_grad():
        module.weight.fill_(10.0)
    callback.on_train_end(net)  # the fitted network is the average
    torch.testing.assert_close(module.weight.data, torch.full((1, 2), expected))


def test_warmup_linear_factors():
    factor = _WarmupLinear(100)
    values = [factor(t) for t in range(101)]
    assert values[0] == pytest.approx(0.2)
    assert values[23] == pytest.approx(1.0)
    assert values[100] == pytest.approx(0.07)
    assert np.all(np.diff(values[:24]) > 0) and np.all(np.diff(values[23:]) < 0)


# ------------------------------------------------------------------ TTA
def test_tta_averages_the_right_views():
    X = torch.randn(3, 2, 10, 10)

    def center(x):  # reads one interior pixel of each channel
        return x[:, :, 4, 4]

    torch.testing.assert_close(tta_logits(center, X, None), X[:, :, 4, 4])
    flip = (X[:, :, 4, 4] + X[:, :, 4, 5]) / 2
    torch.testing.assert_close(tta_logits(center, X, "flip"), flip)
    # Shifted by one pixel down-right and up-left, each with its mirror image.
    shifted = (X[:, :, 3, 3] + X[:, :, 3, 4] + X[:, :, 5, 5] + X[:, :, 5, 6]) / 4
    torch.testing.assert_close(tta_logits(center, X, "flip_translate"), flip / 2 + shifted / 2)


# ------------------------------------------------------------------ estimator
def test_recipe_params_are_explicit_and_clone():
    clf = CNNClassifier(**airbench_params(max_epochs=7))
    params = clf.get_params()
    for name, value in airbench_params(max_epochs=7).items():
        assert params[name] == value
    assert CNNClassifier().get_params()["architecture"] == "plain"
    assert CNNClassifier().get_params()["weight_averaging"] is None
    # airbench94's lr 11.5 per 1024 examples of a summed loss with Nesterov momentum 0.85,
    # for a mean loss over the recipe's batches; its weight decay 0.0153 relative to that lr
    recipe = airbench_params()
    assert recipe["lr"] * 1024 / recipe["batch_size"] == pytest.approx(11.5 / (1 + 1 / 0.15))
    assert recipe["weight_decay"] == pytest.approx(0.0153 / 11.5, rel=1e-5)
    copy = clone(clf.set_params(architecture="plain", tta="flip"))
    assert copy.get_params()["architecture"] == "plain"
    assert copy.get_params()["tta"] == "flip"
    assert copy.get_params()["lr_schedule"] == "warmup_linear"


def test_gpu_recipe_scales_the_cpu_recipe_to_batches_of_1024():
    cpu, gpu = airbench_params(), airbench_params(device="cuda")
    assert (gpu["batch_size"], gpu["conv_filters"], gpu["max_epochs"]) == (1024, (64, 256, 256), 10)
    assert gpu["lr"] / cpu["lr"] == pytest.approx(gpu["batch_size"] / cpu["batch_size"])
    assert gpu["weight_decay"] == cpu["weight_decay"]
    assert gpu["device"] == "cuda" and "device" not in cpu
    assert gpu["optimizer__muon_lr"] == 0.12 and "optimizer__muon_lr" not in cpu
    assert airbench_params(max_epochs=4, device="cuda")["max_epochs"] == 4
    params = CNNClassifier(**gpu).get_params()
    assert params["optimizer__muon_lr"] == 0.12 and params["device"] == "cuda"
    with pytest.raises(ValueError, match='"cpu" or "cuda"'):
        airbench_params(device="auto")


def test_gpu_recipe_trains_where_its_device_is_overridden(tiny_images):
    X, y = tiny_images
    params = {**airbench_params(max_epochs=3, device="cuda"), "conv_filters": (8, 16),
              "batch_size": 16, "device": "cpu", "verbose": 0, "random_state": 0}
    clf = CNNClassifier(**params).fit(X, y)
    filters = [g for g in clf.optimizer_.param_groups if g.get("muon")]
    assert filters and all(g["initial_lr"] == 0.12 for g in filters)


@pytest.mark.parametrize("params,error", [
    ({"architecture": "resnet"}, InvalidParameterError),
    ({"weight_averaging": "ema"}, InvalidParameterError),
    ({"tta": "translate"}, InvalidParameterError),
    ({"lr_schedule": "warmup"}, InvalidParameterError),
    ({"backbone": "resnet18"}, ValueError),
])
def test_invalid_recipe_params(tiny_images, params, error):
    X, y = tiny_images
    with pytest.raises(error):
        _tiny_airbench(**params).fit(X, y)


def test_airbench_fit_learns_tiny_images(tiny_images):
    X, y = tiny_images
    Xn = ImageNormalizer().fit(X).transform(X)
    # On the CPU, where two fits with the same seed are identical (checked at the end).
    clf = _tiny_airbench(max_epochs=8, device="cpu").fit(
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
    again = _tiny_airbench(max_epochs=8, device="cpu").fit(
        ImageAugmenter(crop_padding=1).fit_transform(Xn), y)
    torch.testing.assert_close(again.module_.whiten.weight, clf.module_.whiten.weight)
    np.testing.assert_allclose(again.predict_proba(Xn[:5]), proba, rtol=1e-5, atol=1e-6)


def test_warm_start_keeps_the_whitening(tiny_images):
    X, y = tiny_images
    clf = _tiny_airbench(max_epochs=1).fit(X, y)
    before = clf.module_.whiten.weight.clone()
    clf.partial_fit(X[::-1].copy(), y[::-1])
    torch.testing.assert_close(clf.module_.whiten.weight, before)


@pytest.mark.parametrize("tta", [None, "flip", "flip_translate"])
def test_tta_options_in_predict(tiny_images, tta):
    X, y = tiny_images
    clf = _tiny_airbench(max_epochs=1, tta=tta).fit(X, y)
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), 2)
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[proba.argmax(axis=1)])
    # Each mode averages other views: the same network gives other probabilities.
    for other in {None, "flip", "flip_translate"} - {tta}:
        assert not np.allclose(proba, clf.set_params(tta=other).predict_proba(X),
                               rtol=0, atol=1e-6), f"tta={tta!r} predicts as tta={other!r}"
    np.testing.assert_array_equal(clf.set_params(tta=tta).predict_proba(X), proba)


def test_flip_translate_tta_works_with_the_plain_network(tiny_images, tiny_classifier):
    X, y = tiny_images
    clf = tiny_classifier(tta="flip_translate").fit(X, y)
    plain = clf.predict_proba(X)
    assert plain.shape == (len(X), 2)
    assert not np.allclose(plain, clf.set_params(tta=None).predict_proba(X))


def test_lookahead_ends_before_early_stopping_restores_its_best(tiny_images):
    X, y = tiny_images
    clf = _tiny_airbench(max_epochs=6, validation_fraction=0.25, early_stopping=100).fit(X, y)
    names = [name for name, _ in clf.callbacks_]
    assert names.index("lookahead") < names.index("early_stopping")


def test_flip_translate_refuses_signals_and_export(tiny_images, tiny_classifier, tmp_path):
    with pytest.raises(ValueError, match="1-D signals"):
        signals = np.random.default_rng(0).random((20, 16))
        tiny_classifier(tta="flip_translate").fit(signals, np.arange(20) % 2)
    X, y = tiny_images
    clf = tiny_classifier(tta="flip_translate", max_epochs=1).fit(X, y)
    with pytest.raises(ValueError, match="cannot be exported"):
        export_onnx(clf, tmp_path / "model.onnx")


def test_grid_search_over_architecture(tiny_images):
    X, y = tiny_images

    def is_airbench(estimator, X, y):
        return float(isinstance(estimator[-1].module_, AirbenchNet))

    # Both networks learn the images (measured: 1.0 in every fold); a candidate that fails
    # to build or train raises instead of being scored NaN.
    search = GridSearchCV(Pipeline([("norm", ImageNormalizer()),
                                    ("cnn", _tiny_airbench(max_epochs=4))]),
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
def test_airbench_network_exports_with_flip_tta(tiny_images, tmp_path, mixed_precision):
    X, y = tiny_images
    pipe = Pipeline([("norm", ImageNormalizer()),
                     # The exported program runs on the CPU: compare with CPU predictions.
                     ("cnn", _tiny_airbench(max_epochs=2, tta="flip", device="cpu",
                                            mixed_precision=mixed_precision))]).fit(X, y)
    program = torch.export.load(str(export_program(pipe, tmp_path / "m.pt2"))).module()
    exported = program(torch.from_numpy(X[:8])).numpy()
    # bfloat16 predictions differ from the float32 program by bfloat16 rounding ...
    np.testing.assert_allclose(exported, pipe.predict_proba(X[:8]), atol=1e-2)
    # ... and the program is the same weights' float32 predict_proba.
    pipe["cnn"].mixed_precision = None
    np.testing.assert_allclose(exported, pipe.predict_proba(X[:8]), rtol=1e-5, atol=1e-6)
