"""Transfer learning: torchvision backbones, local weights, freezing and fine-tuning."""

import warnings

import numpy as np
import pytest
import torch
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from skorch.callbacks import Callback
from torchvision.models import get_model

import sk_cnn
from sk_cnn import CNNClassifier, ImageNormalizer

BACKBONES = ["resnet18", "resnet34", "resnet50", "mobilenet_v2", "mobilenet_v3_small",
             "mobilenet_v3_large", "efficientnet_b0", "convnext_tiny", "mnasnet0_5",
             "shufflenet_v2_x0_5", "regnet_x_400mf"]
RNG = np.random.default_rng(0)
X = RNG.integers(0, 256, (8, 20, 20, 3), dtype=np.uint8)  # smaller than 32: resized on the fly
Y = np.repeat(["cat", "dog"], 4)


def _cpu_state(module):
    """A copy of the module's state dict on the CPU (comparable on any training device)."""
    return {key: value.detach().cpu().clone() for key, value in module.state_dict().items()}


def backbone_clf(**params):
    defaults = dict(backbone="resnet18", max_epochs=1, batch_size=4, verbose=0, random_state=0,
                    validation_fraction=0, lr_schedule=None)
    return CNNClassifier(**{**defaults, **params})


class _HeadAtTrainBegin(Callback):
    """Keeps a copy of the new head's parameters as training begins."""

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        head = net.module_.model.get_submodule(net.module_.head)
        self.before_ = {name: p.detach().cpu().clone() for name, p in head.named_parameters()}


@pytest.mark.parametrize("name", BACKBONES)
def test_every_listed_backbone_builds_and_trains_a_step(name):
    snapshot = _HeadAtTrainBegin()
    clf = backbone_clf(backbone=name, batch_size=8,
                       callbacks=[("head_snapshot", snapshot)]).fit(X, Y)
    assert clf.module_.input_size == (32, 32)
    head = clf.module_.model.get_submodule(clf.module_.head)
    after = {name: p.detach().cpu() for name, p in head.named_parameters()}
    assert after.keys() == snapshot.before_.keys() and after
    unchanged = [key for key in after if torch.equal(after[key], snapshot.before_[key])]
    assert not unchanged, f"the training step left the head's {unchanged} unchanged"
    proba = clf.predict_proba(X)
    assert proba.shape == (8, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)


@pytest.mark.parametrize("channels", [1, 5])
def test_other_channel_counts_adapt_the_first_convolution(channels, tmp_path):
    torch.manual_seed(0)
    reference = get_model("resnet18", weights=None)
    torch.save(reference.state_dict(), tmp_path / "resnet18.pth")
    images = RNG.random((8, 20, 20, channels)).astype(np.float32)
    clf = backbone_clf(weights=tmp_path / "resnet18.pth", channels="last").fit(images, Y)
    conv = clf.module_.model.conv1
    assert conv.in_channels == channels
    if channels == 1:  # a gray image meets the summed RGB kernels
        torch.testing.assert_close(conv.weight.sum(1).cpu(), reference.conv1.weight.sum(1),
                                   atol=0.05, rtol=0.05)


def test_weights_from_a_file_are_loaded_and_change_predictions(tmp_path):
    torch.manual_seed(1)
    pretrained = get_model("resnet18", weights=None)
    torch.save(pretrained.state_dict(), tmp_path / "pretrained.pth")
    untrained = backbone_clf(max_epochs=1, lr=1e-12).fit(X, Y)
    loaded = backbone_clf(max_epochs=1, lr=1e-12, weights=tmp_path / "pretrained.pth").fit(X, Y)
    torch.testing.assert_close(loaded.module_.model.layer1[0].conv1.weight.cpu(),
                               pretrained.layer1[0].conv1.weight)
    assert not torch.equal(untrained.module_.model.layer1[0].conv1.weight.cpu(),
                           pretrained.layer1[0].conv1.weight)
    assert not np.allclose(loaded.predict_proba(X), untrained.predict_proba(X))


def test_missing_cached_weights_name_the_file_and_where_to_put_it(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"SK_CNN_OFFLINE is set.*resnet18-f37072fd\.pth"):
        backbone_clf(weights="IMAGENET1K_V1").fit(X, Y)
    with pytest.raises(ValueError, match="no weights named"):
        backbone_clf(weights="IMAGENET9K").fit(X, Y)


def test_named_weights_are_read_from_the_hub_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    (tmp_path / "checkpoints").mkdir()
    torch.manual_seed(2)
    cached = get_model("mobilenet_v3_small", weights=None)
    from torchvision.models import MobileNet_V3_Small_Weights
    filename = MobileNet_V3_Small_Weights.DEFAULT.url.rsplit("/", 1)[1]
    torch.save(cached.state_dict(), tmp_path / "checkpoints" / filename)
    clf = backbone_clf(backbone="mobilenet_v3_small", weights="DEFAULT", lr=1e-12).fit(X, Y)
    torch.testing.assert_close(clf.module_.model.features[1].block[0][0].weight.cpu(),
                               cached.features[1].block[0][0].weight)


def test_freeze_backbone_keeps_it_unchanged_and_batch_norm_in_eval_mode():
    clf = backbone_clf(freeze="backbone", max_epochs=2, lr=0.1)
    clf.initialize_module = _record_initial(clf)
    clf.fit(X, Y)
    before = clf.initial_state_
    after = _cpu_state(clf.module_.model)
    for key, value in before.items():
        if key.startswith("fc."):
            continue
        torch.testing.assert_close(after[key], value, msg=f"{key} changed")  # incl. BN stats
    assert not torch.equal(after["fc.1.weight"], before["fc.1.weight"])
    clf.module_.train()
    assert not clf.module_.model.bn1.training and clf.module_.model.fc.training


def test_freeze_first_stages_only():
    clf = backbone_clf(freeze=2)
    clf.initialize_module = _record_initial(clf)
    clf.fit(X, Y)
    before, after = clf.initial_state_, _cpu_state(clf.module_.model)
    torch.testing.assert_close(after["conv1.weight"], before["conv1.weight"])
    torch.testing.assert_close(after["bn1.weight"], before["bn1.weight"])
    assert not torch.equal(after["layer1.0.conv1.weight"], before["layer1.0.conv1.weight"])
    assert clf.module_.frozen == ["conv1", "bn1"]


def test_unfreeze_at_epoch_and_backbone_learning_rate():
    clf = backbone_clf(freeze="backbone", unfreeze_at_epoch=2, max_epochs=2,
                       backbone_lr_factor=0.1, lr=0.01)
    clf.initialize_module = _record_initial(clf)
    clf.fit(X, Y)
    assert clf.module_.frozen == []
    assert all(p.requires_grad for p in clf.module_.parameters())
    assert not torch.equal(_cpu_state(clf.module_.model)["conv1.weight"],
                           clf.initial_state_["conv1.weight"])
    groups = clf.optimizer_.param_groups
    assert [g["lr"] for g in groups] == pytest.approx([0.001, 0.01])
    assert len(groups[1]["params"]) == 2  # the head: Linear weight and bias


def test_backbone_learning_rate_under_muon_scales_the_filters_too():
    clf = backbone_clf(optimizer="muon", backbone_lr_factor=0.1, lr=0.01,
                       optimizer__muon_lr=0.2).fit(X, Y)
    backbone = {id(p) for p in clf.module_.backbone_parameters()}
    rates = {(g["muon"], id(g["params"][0]) in backbone): g["lr"]
             for g in clf.optimizer_.param_groups}
    assert rates == pytest.approx({(True, True): 0.02, (False, True): 0.001,
                                   (False, False): 0.01})


def _record_initial(clf):
    original = clf.initialize_module

    def wrapped():
        result = original()
        clf.initial_state_ = _cpu_state(clf.module_.model)
        return result
    return wrapped


def test_save_weights_then_reuse_for_another_task(tmp_path):
    first = backbone_clf(max_epochs=1).fit(X, Y)
    path = sk_cnn.save_weights(first, tmp_path / "mine.pt")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # only the head differs: nothing to warn about
        second = backbone_clf(weights=path, lr=1e-12).fit(X, np.repeat(["a", "b", "c", "d"], 2))
    torch.testing.assert_close(second.module_.model.layer4[1].conv2.weight,
                               first.module_.model.layer4[1].conv2.weight)
    assert second.module_.model.fc[1].out_features == 4  # the head was not reused
    # Grayscale: the first convolution was adapted to 1 channel, and is reused as such.
    gray = backbone_clf(max_epochs=1).fit(X[..., 0], Y)
    path = sk_cnn.save_weights(gray, tmp_path / "gray.pt")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        reused = backbone_clf(weights=path, lr=1e-12).fit(X[..., 0], Y)
    torch.testing.assert_close(reused.module_.model.conv1.weight,
                               gray.module_.model.conv1.weight)

    plain = CNNClassifier(conv_filters=(4, 8), max_epochs=1, verbose=0).fit(X, Y)
    plain_path = sk_cnn.save_weights(plain, tmp_path / "plain.pt")
    reused = CNNClassifier(conv_filters=(4, 8), max_epochs=1, verbose=0, lr=1e-12,
                           weights=plain_path).fit(X, Y)
    torch.testing.assert_close(reused.module_.features.block2.conv.weight,
                               plain.module_.features.block2.conv.weight)
    with pytest.raises(ValueError, match="do not fit this network"):
        backbone_clf(weights=plain_path).fit(X, Y)
    # Another architecture: the second block's filters do not fit and keep their init.
    with pytest.warns(UserWarning, match=r"fit only part of this network: 5 of 14 .*block2"):
        CNNClassifier(conv_filters=(4, 16), max_epochs=1, verbose=0,
                      weights=plain_path).fit(X, Y)


# MNASNet: torchvision's loads only a state dict that keeps its version (_metadata).
@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v3_small", "mnasnet0_5"])
def test_save_weights_writes_torchvision_names_and_restores_the_head(name, tmp_path):
    first = backbone_clf(backbone=name, max_epochs=2).fit(X, Y)
    path = sk_cnn.save_weights(first, tmp_path / "mine.pt")
    reference = get_model(name, weights=None, num_classes=2)
    reference.load_state_dict(torch.load(path, weights_only=True), strict=True)
    images = torch.rand(3, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(reference.eval()(images), first.module_.eval()(images.to(
            first.device)).cpu())
    # The same classes: the network starts as the saved one, head included.
    second = backbone_clf(backbone=name, weights=path, freeze="backbone", lr=1e-12,
                          random_state=1)
    second.initialize_module = _record_initial(second)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # everything fits: nothing to warn about
        second.fit(X, Y)
    saved = _cpu_state(first.module_.model)
    assert second.initial_state_.keys() == saved.keys()
    for key, value in saved.items():
        assert torch.equal(second.initial_state_[key], value), key
    np.testing.assert_allclose(second.predict_proba(X), first.predict_proba(X), atol=1e-5)


# One per way sk_cnn's head relates to torchvision's: fc wrapped (resnet, shufflenet, regnet),
# classifier wrapped (densenet), Dropout inserted (convnext), names kept (the others).
HEAD_FAMILIES = [("resnet18", 0.3), ("shufflenet_v2_x0_5", 0.0), ("regnet_x_400mf", 0.3),
                 ("densenet121", 0.3), ("convnext_tiny", 0.3), ("convnext_tiny", 0.0),
                 ("mobilenet_v2", 0.3), ("mobilenet_v3_small", 0.3), ("efficientnet_b0", 0.3),
                 ("mnasnet0_5", 0.3)]


@pytest.mark.parametrize("name, dropout", HEAD_FAMILIES)
def test_head_is_written_and_read_under_torchvision_names(name, dropout, tmp_path):
    from sk_cnn.networks._backbones import build_backbone, torchvision_state_dict

    def build(weights=None, n_outputs=3, seed=0):
        torch.manual_seed(seed)
        return build_backbone(name, n_outputs=n_outputs, in_channels=3, dropout=dropout,
                              weights=weights)

    net = build()
    get_model(name, weights=None, num_classes=3).load_state_dict(
        torchvision_state_dict(net), strict=True)

    torch.manual_seed(1)
    torch.save(get_model(name, weights=None, num_classes=3).state_dict(), tmp_path / "tv.pt")
    # sk_cnn's names in a plain dict, as torch.save(clf.module_.model.state_dict()) writes them.
    torch.save({k: v for k, v in net.model.state_dict().items()}, tmp_path / "sk.pt")
    for file in ("tv.pt", "sk.pt"):
        expected = torch.load(tmp_path / file, weights_only=True)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # everything fits: nothing to warn about
            loaded = build(tmp_path / file, seed=2)
            other_classes = build(tmp_path / file, n_outputs=4, seed=2)
        got = (torchvision_state_dict(loaded) if file == "tv.pt"
               else loaded.model.state_dict())
        assert got.keys() == expected.keys()
        for key, value in expected.items():
            assert torch.equal(got[key], value), (file, key)
        # Another number of classes: the output layer keeps its fresh initialization.
        fresh = build(n_outputs=4, seed=2).model.state_dict()
        other, three = other_classes.model.state_dict(), loaded.model.state_dict()
        head = [key for key in other if other[key].shape != three[key].shape]
        assert len(head) == 2  # weight and bias
        for key, value in other.items():
            assert torch.equal(value, fresh[key] if key in head else three[key]), (file, key)


@pytest.mark.parametrize("content", [b"", b"not a torch file", b"hello world", "module"])
def test_unreadable_weights_files_get_a_clear_error(tmp_path, content):
    path = tmp_path / "weights.pth"
    if content == "module":  # a pickled module, not a state dict: refused by weights_only
        torch.save(torch.nn.Linear(2, 2), path)
    else:
        path.write_bytes(content)
    with pytest.raises(ValueError, match="could not be read as a PyTorch state dict"):
        backbone_clf(weights=path).fit(X, Y)


def test_backbone_pipeline_pickles_saves_and_grid_searches(tmp_path):
    import joblib
    pipe = Pipeline([("norm", ImageNormalizer(mean="imagenet")),
                     ("cnn", backbone_clf(backbone="mobilenet_v3_small"))]).fit(X, Y)
    joblib.dump(pipe, tmp_path / "m.joblib")
    np.testing.assert_allclose(joblib.load(tmp_path / "m.joblib").predict_proba(X),
                               pipe.predict_proba(X), rtol=1e-6)
    loaded = sk_cnn.load(sk_cnn.save(pipe, tmp_path / "m.safetensors"))
    np.testing.assert_allclose(loaded.predict_proba(X), pipe.predict_proba(X), rtol=1e-6)

    def frozen_stages(estimator, X, y):
        return float(len(estimator["cnn"].module_.frozen))

    # A candidate that fails raises (not a NaN score); each froze the stages it names.
    grid = GridSearchCV(pipe, {"cnn__freeze": ["backbone", 2, None]}, cv=2,
                        scoring={"accuracy": "accuracy", "frozen": frozen_stages},
                        refit="accuracy", error_score="raise").fit(X, Y)
    results = grid.cv_results_
    assert np.isfinite(results["mean_test_accuracy"]).all()
    stages = len(pipe["cnn"].module_.stages())
    assert stages > 2
    np.testing.assert_array_equal(results["mean_test_frozen"], [stages, 2, 0])


@pytest.mark.parametrize("params, message", [
    (dict(backbone="resnet9000"), "Unknown backbone"),
    (dict(backbone="vit_b_16", input_size=100), "multiple of its patch size 16"),
    (dict(backbone="alexnet", input_size=32), "at least 63x63 pixels"),
    (dict(backbone=None, freeze="backbone"), "need a backbone"),
    (dict(freeze="everything"), "'freeze' parameter"),
    (dict(freeze=99), "stages"),
])
def test_bad_backbone_parameters(params, message):
    with pytest.raises(ValueError, match=message):
        backbone_clf(**params).fit(X, Y)


def test_mnasnet_round_trips_through_save(tmp_path):
    # MNASNet's loader reads the state dict's layer versions, which safetensors drops.
    clf = backbone_clf(backbone="mnasnet0_5").fit(X, Y)
    loaded = sk_cnn.load(sk_cnn.save(clf, tmp_path / "m.safetensors"))
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))


def test_backbone_refuses_signals():
    with pytest.raises(ValueError, match="needs images"):
        backbone_clf().fit(RNG.random((8, 30)), Y)


def test_a_continued_fit_after_the_unfreeze_epoch_trains_the_backbone(tmp_path):
    # A loaded (or resumed) network is built frozen; the unfreezing epoch lies behind it.
    clf = backbone_clf(freeze="backbone", unfreeze_at_epoch=2, max_epochs=2).fit(X, Y)
    loaded = sk_cnn.load(sk_cnn.save(clf, tmp_path / "clf.safetensors"))
    before = _cpu_state(loaded.module_.model)["conv1.weight"]
    loaded.partial_fit(X, Y)
    assert loaded.module_.frozen == []
    assert not torch.equal(_cpu_state(loaded.module_.model)["conv1.weight"], before)
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.partial_fit(X, Y).predict_proba(X))


class _FailOnEpoch(Callback):
    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_begin(self, net, **kwargs):
        if len(net.history) == self.epoch:
            raise RuntimeError("failed")


def test_a_failed_partial_fit_leaves_the_backbone_frozen_as_it_was():
    # The failed call unfroze the backbone (epoch 3) before failing (epoch 4).
    clf = backbone_clf(freeze="backbone", unfreeze_at_epoch=3, max_epochs=2,
                       callbacks=[("fail", _FailOnEpoch(4))]).fit(X, Y)
    trainable = [p.requires_grad for p in clf.module_.parameters()]
    with pytest.raises(RuntimeError, match="failed"):
        clf.partial_fit(X, Y)
    assert [p.requires_grad for p in clf.module_.parameters()] == trainable
    assert clf.module_.frozen and len(clf.history) == 2
