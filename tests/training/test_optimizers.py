"""Optimizers: Muon, the optimizer names, their options and parameter groups."""

import functools

import numpy as np
import pytest
import torch

from sk_cnn import CNNClassifier
from sk_cnn.networks._airbench import NORM_BIAS_LR_FACTOR
from sk_cnn.training import Muon
from sk_cnn.training._muon import orthogonalize
from sk_cnn.training._optimizers import check_optimizer_options


def test_orthogonalize_keeps_singular_vectors_and_evens_singular_values():
    torch.manual_seed(0)
    U, _ = torch.linalg.qr(torch.randn(16, 16))
    V, _ = torch.linalg.qr(torch.randn(72, 16))
    singular = torch.logspace(0, -3, 16)  # spread over three orders of magnitude
    G = U @ torch.diag(singular) @ V.T
    X = orthogonalize(G, steps=5)
    inner = U.T @ X @ V  # diagonal when X has G's singular vectors
    off = inner - torch.diag(torch.diagonal(inner))
    assert off.abs().max() < 1e-4
    values = torch.linalg.svdvals(X)
    assert values.max() < 1.6 and values[:12].min() > 0.4  # the largest 12 evened out
    assert orthogonalize(G.T, steps=5).shape == (72, 16)


def _net():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Flatten(),
                               torch.nn.Linear(4 * 4 * 4, 2))


def test_muon_splits_filters_from_the_other_parameters():
    net = _net()
    optimizer = Muon(net.parameters(), lr=0.1, momentum=0.8, muon_lr=0.3, muon_momentum=0.5)
    muon = [g for g in optimizer.param_groups if g["muon"]]
    sgd = [g for g in optimizer.param_groups if not g["muon"]]
    assert [p.shape for p in muon[0]["params"]] == [torch.Size([4, 3, 3, 3])]
    assert muon[0]["lr"] == 0.3 and muon[0]["momentum"] == 0.5
    assert len(sgd[0]["params"]) == 3 and sgd[0]["lr"] == 0.1 and sgd[0]["momentum"] == 0.8


def test_muon_scales_the_filter_rate_of_a_group_with_its_own_rate():
    net, head = _net(), torch.nn.Conv2d(4, 2, 1)
    optimizer = Muon([{"params": net.parameters(), "lr": 0.01}, {"params": head.parameters()}],
                     lr=0.1, muon_lr=0.3)
    rates = {(g["muon"], g["params"][0].shape[0]): g["lr"] for g in optimizer.param_groups}
    # The first group runs at a tenth of lr, so its filters at a tenth of muon_lr.
    assert rates == pytest.approx({(True, 4): 0.03, (False, 4): 0.01,
                                   (True, 2): 0.3, (False, 2): 0.1})


def test_muon_steps_sgd_parameters_like_torch_sgd_and_normalizes_filters():
    net, reference = _net(), _net()
    settings = dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)
    optimizer = Muon(net.parameters(), **settings)
    sgd = torch.optim.SGD([p for p in reference.parameters() if p.ndim < 3], **settings)
    filters_before = net[0].weight.detach().clone()
    for _ in range(3):  # the same gradients for both, so momentum and decay are compared too
        for p, q in zip(net.parameters(), reference.parameters()):
            p.grad = torch.randn_like(p)
            q.grad = p.grad.clone()
        optimizer.step()
        sgd.step()
    for (name, p), q in zip(net.named_parameters(), reference.parameters()):
        if p.ndim < 3:
            torch.testing.assert_close(p, q, msg=name)
    assert not torch.allclose(net[0].weight, filters_before)
    # Each step rescales the filters to norm sqrt(4), then adds an update of norm about
    # lr * sqrt(rank): the norm stays near 2.
    assert 1.5 < float(net[0].weight.norm()) < 2.5


def test_muon_returns_the_closure_loss():
    net = _net()
    optimizer = Muon(net.parameters())
    X = torch.randn(2, 3, 6, 6)

    losses = []

    def closure():
        optimizer.zero_grad()
        loss = net(X).sum()
        loss.backward()
        losses.append(loss)
        return loss

    before = [p.detach().clone() for p in net.parameters()]
    returned = optimizer.step(closure)
    assert len(losses) == 1, "the closure is evaluated once per step"
    assert returned is losses[0]
    # The step used the gradients the closure computed.
    assert all(not torch.equal(p, q) for p, q in zip(net.parameters(), before))


@pytest.mark.parametrize("architecture", ["plain", "airbench"])
def test_classifier_trains_with_muon(tiny_images, tiny_classifier, architecture):
    X, y = tiny_images
    params = {"architecture": architecture, "optimizer": "muon", "max_epochs": 8}
    if architecture == "airbench":
        params.update(conv_filters=(8, 16), lr=0.05, lr_schedule="warmup_linear")
    clf = tiny_classifier(**params).fit(X, y)
    assert isinstance(clf.optimizer_, Muon)
    kinds = sorted(g["muon"] for g in clf.optimizer_.param_groups)
    # airbench: BatchNorm shifts and the rest (SGD), the filters (Muon)
    assert kinds == ([False, False, True] if architecture == "airbench" else [False, True])
    assert clf.score(X, y) >= 0.9
    assert np.isfinite(clf.history[:, "train_loss"]).all()


def test_check_optimizer_options_names_the_option_and_who_takes_it():
    check_optimizer_options(torch.optim.SGD, {"lr": 0.1, "momentum": 0.9}, "optimizer='sgd'")
    check_optimizer_options(lambda params, **kwargs: None, {"anything": 1}, "a factory")
    alternatives = {"sgd": torch.optim.SGD, "muon": Muon}
    with pytest.raises(TypeError, match=r"optimizer='sgd' \(torch.optim.sgd.SGD\) does not take "
                                        r"optimizer__muon_lr; .*choose optimizer='muon'\."):
        check_optimizer_options(torch.optim.SGD, {"muon_lr": 0.1}, "optimizer='sgd'",
                                alternatives)
    with pytest.raises(TypeError, match=r"partial\(\.\.\.\) does not take optimizer__typo; "
                                        r".*Remove optimizer__typo\.$"):
        check_optimizer_options(functools.partial(torch.optim.SGD, momentum=0.5),
                                {"typo": 1}, "optimizer=functools.partial(...)", alternatives)


@pytest.mark.parametrize("optimizer", ["adam", "adamw", "sgd", "rmsprop", torch.optim.Adagrad])
def test_optimizers(tiny_images, tiny_classifier, optimizer):
    X, y = tiny_images
    clf = tiny_classifier(optimizer=optimizer, weight_decay=1e-4, nesterov=True,
                          lr_schedule=None).fit(X, y)
    expected = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD,
                "rmsprop": torch.optim.RMSprop}.get(optimizer, optimizer)
    assert type(clf.optimizer_) is expected
    assert clf.optimizer_.param_groups[0]["weight_decay"] == 1e-4
    if optimizer == "sgd":
        assert clf.optimizer_.param_groups[0]["momentum"] == 0.9
        assert clf.optimizer_.param_groups[0]["nesterov"] is True
        assert clf.optimizer_.param_groups[0]["lr"] == 0.05


@pytest.mark.parametrize("optimizer", ["adamw", torch.optim.AdamW])
def test_weight_decay_zero_reaches_the_optimizer(tiny_images, tiny_classifier, optimizer):
    X, y = tiny_images
    clf = tiny_classifier(optimizer=optimizer, max_epochs=1).fit(X, y)
    assert clf.weight_decay == 0.0
    assert {g["weight_decay"] for g in clf.optimizer_.param_groups} == {0.0}  # AdamW's is 0.01




def test_norm_bias_groups_only_with_sgd(tiny_images, tiny_airbench):
    X, y = tiny_images
    sgd = tiny_airbench(max_epochs=1, optimizer="sgd").fit(X, y)
    assert len(sgd.optimizer_.param_groups) == 2
    muon = tiny_airbench(max_epochs=1).fit(X, y)  # the recipe's: Muon splits off the filters
    groups = muon.optimizer_.param_groups
    assert [g["muon"] for g in groups] == [False, False, True]
    assert groups[0]["initial_lr"] == pytest.approx(muon.lr * NORM_BIAS_LR_FACTOR)
    assert groups[2]["initial_lr"] == pytest.approx(0.05)  # Muon's default filter lr
    assert all(p.ndim == 4 for p in groups[2]["params"])
    adam = tiny_airbench(max_epochs=1, optimizer="adam", lr=None).fit(X, y)
    assert len(adam.optimizer_.param_groups) == 1
    scheduler = dict(adam.callbacks_)["lr_scheduler"].lr_scheduler_
    assert scheduler.get_last_lr()[0] < 2e-3  # scheduled down by warmup_linear



def test_lbfgs_is_refused_only_where_weights_are_channels_last():
    # LBFGS views every parameter flat; one block over grayscale images keeps every weight
    # contiguous even in channels_last, two blocks do not.
    X = np.random.default_rng(0).random((40, 8, 8)).astype(np.float32)
    y = np.arange(40) % 2
    params = dict(optimizer=torch.optim.LBFGS, lr=0.1, max_epochs=1, batch_size=40,
                  validation_fraction=None, verbose=0)
    clf = CNNClassifier(conv_filters=(4,), **params).fit(X, y)
    assert isinstance(clf.optimizer_, torch.optim.LBFGS)
    with pytest.raises(ValueError, match="LBFGS cannot train sk_cnn's image networks"):
        CNNClassifier(conv_filters=(4, 8), **params).fit(X, y)
