"""Callbacks: learning-rate schedules, lookahead, progress bar."""

import re
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from sk_cnn import CNNClassifier
from sk_cnn.training._lookahead import Lookahead
from sk_cnn.training._schedules import _WarmupLinear


@pytest.mark.parametrize("schedule", ["cosine", "onecycle", "step"])
def test_lr_schedules_change_the_learning_rate(tiny_images, tiny_classifier, schedule,
                                               recorded_lrs):
    X, y = tiny_images
    clf = tiny_classifier(lr_schedule=schedule, max_epochs=4).fit(X, y)
    assert recorded_lrs(clf.history)[-1] < 2e-3 * 0.5


@pytest.mark.parametrize("epochs, factors", [
    (6, [1, 1, 0.1, 0.1, 0.01, 0.01]), (10, [1, 1, 1, 0.1, 0.1, 0.1, 0.1, 0.01, 0.01, 0.01]),
    (4, [1, 0.1, 0.1, 0.01]), (2, [1, 0.1]), (1, [1])])
def test_step_schedule_divides_by_ten_at_a_third_and_two_thirds(tiny_images, tiny_classifier,
                                                                epochs, factors, recorded_lrs):
    X, y = tiny_images
    clf = tiny_classifier(lr_schedule="step", max_epochs=epochs, lr=1e-3).fit(X, y)
    assert recorded_lrs(clf.history) == pytest.approx([1e-3 * f for f in factors])




@pytest.mark.parametrize("schedule", ["cosine", "onecycle", "step", "warmup_linear"])
def test_every_call_runs_the_whole_learning_rate_schedule(tiny_images, tiny_classifier,
                                                          schedule, recorded_lrs):
    # skorch would continue the schedule from the annealed rates: a second warm-start fit
    # with cosine started at lr 0, and partial_fit calls alternated between training and not.
    X, y = tiny_images
    clf = tiny_classifier(max_epochs=3, lr=1e-3, lr_schedule=schedule, warm_start=True).fit(X, y)
    first = recorded_lrs(clf.history)
    clf.fit(X, y)
    assert recorded_lrs(clf.history) == pytest.approx(first + first)
    assert [g["lr"] for g in clf.optimizer_.param_groups] == [1e-3]  # as configured

    clf = tiny_classifier(max_epochs=1, lr_schedule=schedule).partial_fit(X, y)
    for _ in range(3):
        weights = clf.module_.head.output.weight.detach().clone()
        clf.partial_fit(X, y)
        assert (clf.module_.head.output.weight - weights).abs().max() > 1e-4




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


def test_lookahead_ends_before_early_stopping_restores_its_best(tiny_images, tiny_airbench):
    X, y = tiny_images
    clf = tiny_airbench(max_epochs=6, validation_fraction=0.25, early_stopping=100).fit(X, y)
    names = [name for name, _ in clf.callbacks_]
    assert names.index("lookahead") < names.index("early_stopping")


def test_verbose_2_shows_a_progress_bar(tiny_images, capsys):
    X, y = tiny_images
    CNNClassifier(conv_filters=(4,), max_epochs=2, batch_size=16, verbose=2,
                  random_state=0).fit(X, y)
    out, err = capsys.readouterr()
    assert "train_loss" in out  # the per-epoch table still prints
    # 64 samples, 10% validation: 57 training samples in 4 batches of 16, 7 in 1 batch.
    # (tqdm draws the empty bar at once; later updates are throttled.)
    assert re.search(r"\b0/5 \[", err), err[-500:]
    CNNClassifier(conv_filters=(4,), max_epochs=2, batch_size=16, verbose=1,
                  random_state=0).fit(X, y)
    out, err = capsys.readouterr()
    assert "train_loss" in out and "it/s" not in err


def test_verbose_2_with_one_batch_per_epoch(tiny_images, capsys):
    X, y = tiny_images
    CNNClassifier(conv_filters=(4,), max_epochs=2, batch_size=-1, verbose=2,
                  random_state=0).fit(X, y)
    _, err = capsys.readouterr()
    # Counted in the first epoch: one training and one validation batch from the second on.
    assert "0it [" in err and "0/2 [" in err

