"""The model summary: every layer, every parameter, before and after fit."""

import gc
import re
import weakref

import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline

from sk_cnn import CNNClassifier, ImageNormalizer
from sk_cnn.inspection import ModelSummary, model_summary, summarize_module


@pytest.fixture(scope="module")
def fitted():
    """A tiny fitted CNN on RGB (N, H, W, C) images, with a hidden dense layer."""
    rng = np.random.default_rng(0)
    X = rng.integers(0, 255, size=(48, 12, 12, 3)).astype(np.uint8)
    y = np.repeat(["cat", "dog", "eel"], 16)
    clf = CNNClassifier(conv_filters=(4, 8), dense_units=(16,), max_epochs=1, batch_size=16,
                        verbose=0, random_state=0).fit(X, y)
    return clf, X


def _leaf_names(module):
    return [name for name, m in module.named_modules() if name and not any(m.children())]


def test_summary_names_every_layer_and_counts_all_parameters(fitted):
    clf, _ = fitted
    summary = clf.summary()
    assert isinstance(summary, ModelSummary)
    text = str(summary)
    assert repr(summary) == text
    for name in _leaf_names(clf.module_):
        assert re.search(rf"^{re.escape(name)} \(", text, flags=re.MULTILINE), name
    total = sum(p.numel() for p in clf.module_.parameters())
    assert summary.total_params == total
    assert summary.trainable_params == total and summary.non_trainable_params == 0
    assert f"Total params: {total:,}" in text
    assert sum(row.n_params for row in summary.layers) == total
    assert [row.name for row in summary.layers] == _leaf_names(clf.module_)


def test_summary_output_shapes_follow_the_network(fitted):
    clf, X = fitted
    rows = {row.name: row for row in clf.summary().layers}
    # 12x12 RGB, "same" 3x3 convolutions, 2x2 pooling: 12 -> 6 -> 3; 3 classes.
    assert rows["features.block1.conv"].output_shape == (1, 4, 12, 12)
    assert rows["features.block1.pool"].output_shape == (1, 4, 6, 6)
    assert rows["features.block2.pool"].output_shape == (1, 8, 3, 3)
    assert rows["head.dense1"].output_shape == (1, 16)
    assert rows["head.output"].output_shape == (1, 3)
    assert "(None, 4, 12, 12)" in str(clf.summary())
    assert rows["features.block1.conv"].n_params == 4 * 3 * 3 * 3  # no bias before batch norm
    assert clf.summary().input_shape == X.shape[1:]


def test_frozen_parameters_are_counted_and_marked(fitted):
    clf, _ = fitted
    conv = clf.module_.features.block1.conv
    bn = clf.module_.features.block1.bn
    try:
        conv.weight.requires_grad_(False)
        bn.bias.requires_grad_(False)
        summary = clf.summary()
    finally:
        conv.weight.requires_grad_(True)
        bn.bias.requires_grad_(True)
    total = sum(p.numel() for p in clf.module_.parameters())
    frozen = conv.weight.numel() + bn.bias.numel()
    assert summary.total_params == total
    assert summary.trainable_params == total - frozen
    assert summary.non_trainable_params == frozen
    status = {row.name: row.status for row in summary.layers}
    assert status["features.block1.conv"] == "frozen"
    assert status["features.block1.bn"] == "partly frozen"
    assert status["head.output"] == "trainable"
    assert status["features.block1.act"] == ""
    assert f"Non-trainable params: {frozen:,}" in str(summary)


def test_summary_leaves_the_network_as_it_was(fitted):
    clf, X = fitted
    before = clf.predict_proba(X)
    state = {k: v.clone() for k, v in clf.module_.state_dict().items()}
    clf.module_.train()
    clf.module_.features.block1.bn.eval()  # mixed modes survive
    clf.summary()
    assert clf.module_.training and not clf.module_.features.block1.bn.training
    assert clf.module_.features.block2.bn.training
    for key, value in clf.module_.state_dict().items():
        assert torch.equal(value, state[key]), key  # batch-norm statistics untouched
    np.testing.assert_array_equal(clf.predict_proba(X), before)


def test_summary_leaves_the_global_random_generator_alone(fitted):
    clf, _ = fitted
    torch.manual_seed(0)
    expected = torch.rand(3)
    for summarize in (clf.summary, lambda: CNNClassifier().summary(input_shape=(8, 8),
                                                                     n_classes=3)):
        torch.manual_seed(0)
        summarize()  # torchinfo draws a sample; before fit a network is initialized
        assert torch.equal(torch.rand(3), expected)


def test_summary_before_fit_needs_the_input_shape():
    clf = CNNClassifier(conv_filters=(4, 8), dense_units=(16,))
    with pytest.raises(NotFittedError, match="input_shape"):
        clf.summary()
    with pytest.raises(ValueError, match="n_classes"):
        clf.summary(input_shape=(12, 12, 3))
    with pytest.raises(ValueError, match="input_shape must be"):
        clf.summary(input_shape=(0, 12), n_classes=3)
    assert not hasattr(clf, "module_")  # nothing fitted, nothing set


def test_summary_before_fit_matches_the_fitted_network(fitted):
    clf, X = fitted
    unfitted = CNNClassifier(conv_filters=(4, 8), dense_units=(16,))
    summary = unfitted.summary(input_shape=X.shape[1:], n_classes=3)
    fitted_summary = clf.summary()
    assert summary.total_params == fitted_summary.total_params
    assert [(r.name, r.output_shape) for r in summary.layers] == \
        [(r.name, r.output_shape) for r in fitted_summary.layers]
    assert "not fitted" in str(summary) and "not fitted" not in str(fitted_summary)
    assert not hasattr(unfitted, "module_")
    with_classes = CNNClassifier(conv_filters=(4,), classes=["a", "b", "c", "d"])
    rows = with_classes.summary(input_shape=(3, 10, 10)).layers  # channels first
    assert rows[0].output_shape == (1, 4, 10, 10) and rows[-1].output_shape == (1, 4)


def test_summary_of_signals_and_of_a_pipeline():
    summary = CNNClassifier(conv_filters=(4,)).summary(input_shape=(50,), n_classes=2)
    assert summary.layers[0].type == "Conv1d"
    assert summary.layers[0].output_shape == (1, 4, 50)
    assert summary.network_input_shape == (1, 1, 50)
    rng = np.random.default_rng(1)
    X, y = rng.random((40, 10, 10)), np.repeat([0, 1], 20)
    pipe = Pipeline([("norm", ImageNormalizer()),
                     ("cnn", CNNClassifier(conv_filters=(4,), max_epochs=1, verbose=0))])
    pipe.fit(X, y)
    assert model_summary(pipe).total_params == sum(
        p.numel() for p in pipe[-1].module_.parameters())


def test_fitted_summary_refuses_another_input_shape(fitted):
    clf, _ = fitted
    with pytest.raises(ValueError, match=r"fitted on samples of shape \(12, 12, 3\)"):
        clf.summary(input_shape=(32, 32, 3))
    assert clf.summary(input_shape=(12, 12, 3)).total_params == clf.summary().total_params


def test_summarize_module_counts_reused_and_unused_layers():
    shared = torch.nn.Linear(4, 4)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.shared = shared
            self.unused = torch.nn.Linear(4, 2)
            self.scale = torch.nn.Parameter(torch.ones(4))

        def forward(self, x):
            return self.shared(self.shared(x)) * self.scale

    summary = summarize_module(Net(), (1, 4))
    assert summary.total_params == 20 + 10 + 4
    assert summary.layers[0].name == "(network)" and summary.layers[0].n_params == 4
    assert [row.reused for row in summary.layers if row.name == "shared"] == [False, True]
    assert "10 parameters belong to layers that did not run" in str(summary)


def test_summary_does_not_keep_the_network_alive():
    net = torch.nn.Sequential(torch.nn.Linear(3, 2))
    ref = weakref.ref(net)
    summarize_module(net, (1, 3))  # the summary itself is dropped at once
    del net
    gc.collect()
    assert ref() is None  # torchinfo's module-level cache was cleared


def _rows(block1, block2, pooled, *, pool="MaxPool2d", act="ReLU", bn=True, dropout=False,
          head_dropout=False,
          global_pool=(("global_pool.0", "AdaptiveAvgPool2d", (1, 8, 1, 1)),
                       ("global_pool.1", "Flatten", (1, 8)))):
    """The expected (name, type, output shape) rows of a (4, 8)-filter network on 12x12 RGB
    with 3 classes: ``block1``/``block2`` the convolutions' output sizes, ``pooled`` the
    sizes after each block's pooling (None: no pooling layer)."""
    rows = []
    for i, (width, size, after) in enumerate([(4, block1, pooled[0]), (8, block2, pooled[1])]):
        block = f"features.block{i + 1}"
        rows.append((f"{block}.conv", "Conv2d", (1, width, size, size)))
        if bn:
            rows.append((f"{block}.bn", "BatchNorm2d", (1, width, size, size)))
        rows.append((f"{block}.act", act, (1, width, size, size)))
        if dropout:
            rows.append((f"{block}.dropout", "Dropout2d", (1, width, size, size)))
        if after is not None:
            rows.append((f"{block}.pool", pool, (1, width, after, after)))
    rows += list(global_pool)
    features = global_pool[-1][2]
    head = [("head.dropout", "Dropout", features)] if head_dropout else []
    return rows + head + [("head.output", "Linear", (1, 3))]


ARCHITECTURES = [
    ({}, _rows(12, 6, (6, 3))),
    ({"stride": 2}, _rows(6, 2, (3, 1))),  # 12 -conv-> 6 -pool-> 3 -conv-> 2 -pool-> 1
    ({"conv_dropout": 0.2}, _rows(12, 6, (6, 3), dropout=True)),
    ({"dropout": 0.5}, _rows(12, 6, (6, 3), head_dropout=True)),
    ({"pooling": "avg"}, _rows(12, 6, (6, 3), pool="AvgPool2d")),
    ({"pooling": None}, _rows(6, 3, (None, None))),  # strided convolutions instead
    ({"activation": "relu"}, _rows(12, 6, (6, 3), act="ReLU")),
    ({"activation": "gelu"}, _rows(12, 6, (6, 3), act="GELU")),
    ({"activation": "leaky_relu"}, _rows(12, 6, (6, 3), act="LeakyReLU")),
    ({"activation": "elu"}, _rows(12, 6, (6, 3), act="ELU")),
    ({"activation": "tanh"}, _rows(12, 6, (6, 3), act="Tanh")),
    ({"global_pool": "flatten"},
     _rows(12, 6, (6, 3), global_pool=[("global_pool", "Flatten", (1, 8 * 3 * 3))])),
    ({"global_pool": "max"},
     _rows(12, 6, (6, 3), global_pool=[("global_pool.0", "AdaptiveMaxPool2d", (1, 8, 1, 1)),
                                        ("global_pool.1", "Flatten", (1, 8))])),
    ({"batch_norm": False}, _rows(12, 6, (6, 3), bn=False)),
]


@pytest.mark.parametrize("params, expected", ARCHITECTURES,
                         ids=[repr(params) for params, _ in ARCHITECTURES])
def test_architecture_parameters_shape_the_network(tiny_images, tiny_classifier, params,
                                                   expected):
    X, y = tiny_images
    y = np.arange(len(X)) % 3  # 3 classes
    clf = tiny_classifier(max_epochs=1, batch_size=64, validation_fraction=None,
                          **params).fit(X, y)
    fitted = clf.summary()
    assert [(r.name, r.type, r.output_shape) for r in fitted.layers] == expected
    unfitted = CNNClassifier(conv_filters=(4, 8), **params).summary(input_shape=X.shape[1:],
                                                                     n_classes=3)
    assert [(r.name, r.type, r.output_shape) for r in unfitted.layers] == expected
    # The values, not only the layer types, are the parameters'.
    module = clf.module_
    strided = params.get("stride") == 2 or ("pooling" in params and params["pooling"] is None)
    assert module.features.block1.conv.stride == ((2, 2) if strided else (1, 1))
    assert (module.features.block1.conv.bias is None) == params.get("batch_norm", True)
    conv_dropout = [m.p for m in module.features.modules() if isinstance(m, torch.nn.Dropout2d)]
    assert conv_dropout == ([0.2, 0.2] if "conv_dropout" in params else [])
    head_dropout = [m.p for m in module.head.modules() if isinstance(m, torch.nn.Dropout)]
    assert head_dropout == ([0.5] if "dropout" in params else [])  # none by default

