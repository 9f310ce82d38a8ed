"""Every torchvision family as a backbone: the transformers (ViT, Swin, MaxViT), GoogLeNet and
Inception v3 (no auxiliary outputs), SqueezeNet (a convolution as output layer), AlexNet, and
the convolutional families: input sizes, heads, freezing, weights, summary and export."""

import os
import warnings

import numpy as np
import pytest
import torch
from torchvision.models import get_model
from torchvision.models.vision_transformer import interpolate_embeddings

import sk_cnn
from sk_cnn import CNNClassifier
from sk_cnn.networks import available_backbones
from sk_cnn.networks._backbones import build_backbone, torchvision_state_dict
from sk_cnn.networks._families import family, resolve_input_size
from sk_cnn.networks._summary import summarize_module

# One network per family, the smallest; resnext and wide_resnet are torchvision's ResNet class,
# so resnet18 stands for them.
REPRESENTATIVES = {
    "alexnet": "alexnet", "convnext": "convnext_tiny", "densenet": "densenet121",
    "efficientnet": "efficientnet_b0", "googlenet": "googlenet", "inception": "inception_v3",
    "maxvit": "maxvit_t", "mnasnet": "mnasnet0_5", "mobilenet": "mobilenet_v3_small",
    "regnet": "regnet_x_400mf", "resnet": "resnet18", "resnext": "resnet18",
    "shufflenet": "shufflenet_v2_x0_5", "squeezenet": "squeezenet1_1", "swin": "swin_t",
    "vgg": "vgg11", "vit": "vit_b_32", "wide": "resnet18",
}
# The smallest input each runs at quickly (transformers default to 224, the size of their
# pretrained weights; ViT takes any multiple of its patch size, Swin any size).
SMALL_INPUT = {"vit": lambda name: 2 * int(name.rsplit("_", 1)[1]), "swin": lambda name: 32}
ALL = os.environ.get("SK_CNN_TEST_ALL_BACKBONES") == "1"
HEAVY = ("maxvit_t", "vgg11")


def _build(name, in_channels=3, n_outputs=3, **options):
    size = SMALL_INPUT.get(family(name), lambda name: None)(name)
    return build_backbone(name, n_outputs=n_outputs, in_channels=in_channels, dropout=0.2,
                          input_size=size, image_size=(8, 8), **options)


def _torchvision_reference(name, net):
    """torchvision's own model, with the options sk_cnn builds it with, on the meta device."""
    options = {"vit": {"image_size": net.input_size[0]}, "googlenet": {"aux_logits": False},
               "inception": {"aux_logits": False}}.get(family(name), {})
    # RegNet computes its widths with tensor operations, which the meta device cannot.
    device = "cpu" if family(name) == "regnet" else "meta"
    with torch.device(device), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # GoogLeNet's init_weights notice
        return get_model(name, weights=None, num_classes=3, **options)


def test_every_listed_family_has_a_representative_tested_here():
    assert {family(name) for name in available_backbones()} == set(REPRESENTATIVES)
    assert {"vit_b_16", "vit_h_14", "swin_t", "swin_v2_b", "maxvit_t", "googlenet",
            "inception_v3", "squeezenet1_0", "alexnet", "resnet18"} <= set(available_backbones())


@pytest.mark.parametrize("name", sorted(set(REPRESENTATIVES.values())))
def test_each_family_trains_freezes_and_names_its_head(name):
    # The heaviest run on the meta device by default (shapes only, no arithmetic): MaxViT needs
    # 224 pixels, VGG's head holds 120M parameters.
    device = "cpu" if ALL or name not in HEAVY else "meta"
    torch.manual_seed(0)
    with torch.device(device):
        net = _build(name, in_channels=1)
        x = torch.rand(2, 1, 8, 8)  # resized inside the network to a size the model runs at
        out = net.train()(x)
        assert isinstance(out, torch.Tensor) and out.shape == (2, 3)  # no auxiliary outputs
        out.sum().backward()
    head = net.model.get_submodule(net.head)
    assert all(p.grad is not None for p in head.parameters())
    if device == "cpu":
        with torch.no_grad():
            assert torch.isfinite(net.eval()(x)).all()

    # Freezing: every parameter outside the head (ViT's class token and position embedding
    # too), or the first stage.
    stages = net.stages()
    assert len(stages) >= 3
    net.freeze("backbone")
    assert not any(p.requires_grad for p in net.backbone_parameters())
    assert all(p.requires_grad for p in head.parameters())
    net.freeze(1)
    assert net.frozen == [stages[0][0]]
    assert not any(p.requires_grad for p in stages[0][1].parameters())
    assert all(p.requires_grad for p in stages[1][1].parameters())

    # Saved under torchvision's names: only the first convolution's channels differ.
    reference = _torchvision_reference(name, net).state_dict()
    ours = torchvision_state_dict(net)
    assert ours.keys() == reference.keys()
    differ = [key for key in ours if ours[key].shape != reference[key].shape]
    assert len(differ) == 1 and ours[differ[0]].shape[1] == 1


@pytest.mark.parametrize("name, stages", [
    ("vit_b_32", ["conv_proj", "encoder.layers.encoder_layer_0", "encoder.layers.encoder_layer_1"]),
    ("swin_t", ["features.0", "features.1", "features.2"]),
])
def test_transformers_summary_counts_attention_and_freezing_follows_their_blocks(name, stages):
    net = _build(name)
    assert [stage for stage, _ in net.stages()][:3] == stages
    net.freeze(1)  # the patch embedding; ViT's class token and position embedding with it
    trainable = {key for key, p in net.model.named_parameters() if p.requires_grad}
    assert not {"class_token", "encoder.pos_embedding", "conv_proj.weight",
                "features.0.0.weight"} & trainable
    # Every parameter at a layer that ran: the attention layers' projections too, which they
    # call through one functional call rather than as modules.
    summary = summarize_module(net, (1, 3, 8, 8))
    assert summary.total_params == sum(p.numel() for p in net.parameters())
    assert "did not run" not in str(summary)
    assert summary.trainable_params == sum(p.numel() for p in net.parameters() if p.requires_grad)
    # The module paths a Grad-CAM hook reads stay torchvision's.
    last = net.model.encoder.layers[-1] if name.startswith("vit") else net.model.features[-1]
    assert any(row.name.startswith("model." + next(
        key for key, module in net.model.named_modules() if module is last))
        for row in summary.layers)


@pytest.mark.parametrize("name", available_backbones())
def test_every_available_backbone_builds_and_runs(name):
    if not ALL:
        pytest.skip(f"{name}: {REPRESENTATIVES[family(name)]} stands for its family by default "
                    f"(test_each_family_trains_freezes_and_names_its_head); building each of "
                    f"the {len(available_backbones())} models takes seconds and up to GBs: set "
                    f"SK_CNN_TEST_ALL_BACKBONES=1 to build every one")
    net = _build(name)
    with torch.no_grad():
        out = net.eval()(torch.rand(2, 3, 8, 8))
    assert out.shape == (2, 3) and torch.isfinite(out).all()


@pytest.mark.parametrize("name, image_size, expected", [
    ("vit_b_16", (8, 8), (224, 224)), ("vit_h_14", (600, 600), (518, 518)),
    ("swin_t", (32, 32), (224, 224)), ("swin_v2_t", (8, 8), (256, 256)),
    ("maxvit_t", (8, 8), (224, 224)), ("alexnet", (8, 8), (63, 63)),
    ("inception_v3", (40, 100), (75, 100)), ("squeezenet1_0", (8, 8), (24, 24)),
    ("googlenet", (8, 8), (32, 32)), ("resnet18", (40, 20), (40, 32)),
])
def test_default_input_size_is_what_the_model_needs(name, image_size, expected):
    assert resolve_input_size(name, None, image_size) == expected


@pytest.mark.parametrize("name, input_size, message", [
    ("vit_b_16", 100, "multiple of its patch size 16"),
    ("vit_b_16", (32, 64), "square input_size"),
    ("maxvit_t", 112, "multiple of 224"),
    ("inception_v3", (80, 60), "at least 75x75"),
    ("squeezenet1_1", 16, "at least 17x17"),
])
def test_input_sizes_a_model_cannot_run_at_are_refused(name, input_size, message):
    with pytest.raises(ValueError, match=message):
        resolve_input_size(name, input_size, (8, 8))


def test_vit_weights_of_another_size_get_an_interpolated_position_embedding(tmp_path):
    # Part of a file saved from torchvision's vit_b_32 at 224 pixels: 7x7 patches.
    generator = torch.Generator().manual_seed(0)
    part = {key: torch.randn(shape, generator=generator) for key, shape in [
        ("conv_proj.weight", (768, 3, 32, 32)), ("conv_proj.bias", (768,)),
        ("class_token", (1, 1, 768)), ("encoder.pos_embedding", (1, 50, 768)),
        ("encoder.layers.encoder_layer_0.mlp.0.weight", (3072, 768))]}
    torch.save(part, tmp_path / "vit.pth")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*fit only part of this network")
        net = _build("vit_b_32", weights=tmp_path / "vit.pth")  # 64 pixels: 2x2 patches
    expected = interpolate_embeddings(64, 32, {"encoder.pos_embedding": part[
        "encoder.pos_embedding"]})["encoder.pos_embedding"]
    assert net.model.encoder.pos_embedding.shape == (1, 5, 768)
    torch.testing.assert_close(net.model.encoder.pos_embedding.detach(), expected)
    torch.testing.assert_close(net.model.class_token.detach(), part["class_token"])
    torch.testing.assert_close(net.model.encoder.layers[0].mlp[0].weight.detach(),
                               part["encoder.layers.encoder_layer_0.mlp.0.weight"])


def test_googlenet_reads_torchvision_weights_with_auxiliary_classifiers(tmp_path):
    torch.manual_seed(0)
    pretrained = get_model("googlenet", weights=None, aux_logits=True, init_weights=True)
    torch.save(pretrained.state_dict(), tmp_path / "googlenet.pth")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the auxiliary classifiers' entries are not needed
        net = _build("googlenet", weights=tmp_path / "googlenet.pth")
    assert net.model.aux1 is None and net.model.transform_input  # as torchvision's pretrained
    torch.testing.assert_close(net.model.inception5b.branch1.conv.weight,
                               pretrained.inception5b.branch1.conv.weight)
    assert not _build("googlenet", in_channels=1).model.transform_input  # reads 3 channels


def test_vision_transformer_trains_in_the_classifier_at_its_input_size():
    rng = np.random.default_rng(0)
    X, y = rng.integers(0, 256, (8, 12, 12, 3), dtype=np.uint8), np.repeat(["a", "b"], 4)
    clf = CNNClassifier(backbone="vit_b_32", input_size=32, freeze="backbone", max_epochs=1,
                        batch_size=8, verbose=0, validation_fraction=0, lr_schedule=None)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="freeze='backbone' with weights=None")
        clf.fit(X, y)
    assert clf.module_.input_size == (32, 32)
    assert clf.predict_proba(X).shape == (8, 2)


@pytest.mark.skipif(not ALL, reason="exporting a transformer takes minutes "
                    "(torch.onnx's dynamo tracer): set SK_CNN_TEST_ALL_BACKBONES=1")
@pytest.mark.parametrize("name, input_size", [("vit_b_32", 32), ("swin_t", 32)])
def test_transformers_save_load_and_export_with_the_resize_inside(name, input_size, tmp_path):
    onnxruntime = pytest.importorskip("onnxruntime")
    rng = np.random.default_rng(0)
    X, y = rng.integers(0, 256, (4, 12, 12, 3), dtype=np.uint8), np.repeat(["a", "b"], 2)
    clf = CNNClassifier(backbone=name, input_size=input_size, max_epochs=1, verbose=0,
                        validation_fraction=0, lr_schedule=None).fit(X, y)
    expected = clf.predict_proba(X)
    loaded = sk_cnn.load(sk_cnn.save(clf, tmp_path / "model.safetensors"))
    np.testing.assert_allclose(loaded.predict_proba(X), expected, atol=1e-6)
    path = sk_cnn.export_onnx(clf, tmp_path / "model.onnx")
    got = onnxruntime.InferenceSession(str(path)).run(None, {"X": X})[0]
    np.testing.assert_allclose(got, expected, atol=1e-5)
    program = torch.export.load(sk_cnn.export_program(clf, tmp_path / "model.pt2"))
    np.testing.assert_allclose(program.module()(torch.from_numpy(X)).numpy(), expected,
                               atol=1e-5)
