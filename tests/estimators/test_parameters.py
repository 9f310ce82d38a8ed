"""The parameters: one table per estimator, what set_params rebuilds, what a continued fit keeps."""

import inspect
import re
import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone

from sk_cnn import CNNClassifier, CNNRegressor
from sk_cnn.estimators._parameter_table import _SHARED
from sk_cnn.estimators._parameters import (
    CALLBACKS,
    NETWORK,
    OPTIMIZER,
    default_text,
    keyword_parameters,
)
from sk_cnn.networks._build import build_network
from sk_cnn.training._callbacks import build_callbacks
from sk_cnn.training._optimizers import build_optimizer


def test_shares_the_classifier_parameters():
    reg_params = inspect.signature(CNNRegressor).parameters
    clf_params = inspect.signature(CNNClassifier).parameters
    shared = set(_SHARED)
    assert shared <= set(reg_params) and shared <= set(clf_params)
    assert {"scale_target", "criterion"} <= set(reg_params)
    assert "class_weight" not in reg_params and "scale_target" not in clf_params
    assert "conv_filters : tuple of int" in CNNRegressor.__doc__
    assert "{parameters}" not in CNNRegressor.__doc__
    # scikit-learn's repr (not skorch's "<class ...>[uninitialized](module=None,)") shows only
    # the parameters that differ from the signature's defaults, fitted or not.
    assert repr(CNNRegressor(max_epochs=3)) == "CNNRegressor(max_epochs=3)"
    assert repr(CNNClassifier(optimizer="sgd", lr=0.1)) == "CNNClassifier(lr=0.1, optimizer='sgd')"




def test_set_params_on_a_fitted_classifier_reaches_the_next_partial_fit(
        tiny_images, tiny_classifier, recorded_lrs):
    # skorch wrote lr into every parameter group (airbench's BatchNorm group runs at 64x lr),
    # kept the callbacks built at the first fit (cosine over the old max_epochs) and failed
    # on optimizer=... ("Something went wrong").
    from sk_cnn.recipes import airbench_params

    X, y = tiny_images
    params = {**airbench_params(max_epochs=1), "conv_filters": (4, 4, 4), "verbose": 0,
              "batch_size": 16}
    clf = CNNClassifier(**params).fit(X, y)
    clf.set_params(lr=0.01, optimizer__muon_lr=0.2)
    fresh = CNNClassifier(**{**params, "lr": 0.01, "optimizer__muon_lr": 0.2}).fit(X, y)
    groups = [g["lr"] for g in clf.optimizer_.param_groups]
    assert groups == [g["lr"] for g in fresh.optimizer_.param_groups] and len(set(groups)) == 3

    clf = tiny_classifier(max_epochs=2, lr=0.01).fit(X, y)
    clf.set_params(max_epochs=4).partial_fit(X, y)
    assert recorded_lrs(clf.history)[2:] == pytest.approx(
        [0.01 * (1 + np.cos(np.pi * e / 4)) / 2 for e in range(4)])  # cosine over 4 epochs
    clf.set_params(optimizer="sgd", iterator_valid__batch_size=8)
    assert isinstance(clf.optimizer_, torch.optim.SGD)
    clf.partial_fit(X, y)
    assert len(clf.history) == 10


def test_continued_training_warns_when_what_fit_built_changed(tiny_images, tiny_classifier):
    X, y = tiny_images
    clf = tiny_classifier(max_epochs=1, conv_filters=[4, 8]).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # training settings, and equal values, are no change
        clf.set_params(lr=0.01, max_epochs=2, conv_filters=np.array([4, 8])).partial_fit(X, y)
    clf.set_params(dropout=0.2, label_smoothing=0.1)
    message = (r"dropout=0.2, label_smoothing=0.1: changed since fit built .* built with "
               r"dropout=0.0, label_smoothing=0.0\. Fit with warm_start=False")
    with pytest.warns(UserWarning, match=message) as record:
        clf.partial_fit(X, y)
    assert record[0].filename == __file__  # points at the caller's line
    assert clf.criterion_.label_smoothing == 0.0  # as the warning says
    with pytest.warns(UserWarning, match=message):
        clf.set_params(warm_start=True).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clf.set_params(warm_start=False).fit(X, y)  # rebuilt with the new values
    assert clf.criterion_.label_smoothing == 0.1
    filters = [4, 8]
    clf.set_params(conv_filters=filters).fit(X, y)
    filters.append(16)  # a list changed in place is a change too
    with pytest.warns(UserWarning, match=r"conv_filters=\[4, 8, 16\]: changed"):
        clf.partial_fit(X, y)


def test_copied_deep_params_do_not_pin_the_schedule_length(tiny_images, tiny_classifier,
                                                           recorded_lrs):
    # get_params(deep=True) lists the default callbacks; set back, a cosine T_max fixed at
    # construction survived clone and ignored a later max_epochs.
    X, y = tiny_images
    clf = tiny_classifier(max_epochs=2, lr=1e-3)
    clf.set_params(**clf.get_params())
    clf = clone(clf).set_params(max_epochs=4).fit(X, y)
    assert recorded_lrs(clf.history) == pytest.approx(
        [1e-3 * (1 + np.cos(np.pi * e / 4)) / 2 for e in range(4)])



@pytest.mark.parametrize("estimator", [CNNClassifier, CNNRegressor])
def test_signature_table_constraints_and_docstring_agree(estimator):
    signature = inspect.signature(estimator.__init__).parameters
    names = [name for name, p in signature.items()
             if name != "self" and p.kind is not p.VAR_KEYWORD]
    table = estimator._parameter_table
    assert names == list(table)  # every parameter in the table, in the signature's order
    assert estimator._parameter_constraints == {n: table[n].constraints for n in names}
    assert set(estimator().get_params(deep=False)) == set(names)  # a constraint for each
    # The docstring's Parameters section: each parameter once, in order, with its default.
    section = estimator.__doc__.split("Parameters\n    ----------\n")[1].split("\n\n")[0]
    entries = re.findall(r"^    (\*\*\w+|\w+) : (.*)$", section, re.MULTILINE)
    assert [name for name, _ in entries] == names + ["**kwargs"]
    for name, described in entries[:-1]:
        assert described == (f"{table[name].type}, default="
                             f"{default_text(signature[name].default)}")
    assert "{" + "parameters}" not in estimator.__doc__
    assert "{" + "attributes}" not in estimator.__doc__
    for name in names:
        assert table[name].rebuilds in (None, NETWORK, OPTIMIZER, CALLBACKS)


def test_builders_take_the_parameters_of_their_group():
    table = {**CNNClassifier._parameter_table, **CNNRegressor._parameter_table}

    def group(what):
        return {name for name, p in table.items() if p.rebuilds == what}

    network, optimizer = set(keyword_parameters(build_network)), set(
        keyword_parameters(build_optimizer))
    callbacks = set(keyword_parameters(build_callbacks))
    assert network <= group(NETWORK)
    assert optimizer == group(OPTIMIZER)  # set_params rebuilds the optimizer for each
    # set_params rebuilds the callbacks for each of their group; the callbacks read
    # max_epochs from the estimator when training begins.
    assert group(CALLBACKS) - {"max_epochs"} <= callbacks <= group(CALLBACKS) | group(NETWORK)


def test_the_network_is_built_from_the_estimators_parameters(tiny_images, tiny_classifier):
    X, y = tiny_images
    clf = tiny_classifier(max_epochs=1, conv_filters=(4,), dropout=0.3, dense_units=(5,),
                          activation="tanh").fit(X, y)
    layers = [type(m).__name__ for m in clf.module_.modules()]
    assert layers.count("Conv2d") == 1 and layers.count("Dropout") == 2
    assert "Tanh" in layers and clf.module_.head.dense1.out_features == 5


@pytest.mark.parametrize("params, error, match", [
    ({"optimizer": "adamx"}, ValueError, "'optimizer' parameter"),
    ({"batch_size": 0}, ValueError, "'batch_size' parameter"),
    ({"lr": 0.01, "freeze": "backbone"}, ValueError, "need a backbone"),
    ({"lr": 0.01, "optimizer__betas": (2.0, 5.0)}, ValueError, "Invalid beta parameter"),
])
def test_set_params_on_a_fitted_estimator_is_all_or_nothing(tiny_images, tiny_classifier,
                                                            params, error, match):
    # set_params(optimizer="adamx") kept the value and failed with "'str' object is not
    # callable"; batch_size=0 failed in predict; optimizer__betas=(2.0, 5.0) left the betas in
    # the live optimizer, and the next partial_fit failed deep in torch.
    X, y = tiny_images
    clf = tiny_classifier(max_epochs=1).fit(X, y)
    before = {**clf.get_params(deep=False)}
    groups = [dict(group, params=None) for group in clf.optimizer_.param_groups]
    with pytest.raises(error, match=match):
        clf.set_params(**params)
    assert clf.get_params(deep=False).keys() == before.keys()
    assert all(clf.get_params(deep=False)[k] is v for k, v in before.items())
    assert [dict(group, params=None) for group in clf.optimizer_.param_groups] == groups
    clf.partial_fit(X, y)  # trains on, as before
    assert len(clf.history) == 2


def test_predict_checks_the_parameters_it_uses(tiny_images, tiny_classifier):
    X, y = tiny_images
    clf = tiny_classifier(max_epochs=1).fit(X, y)
    clf.batch_size = 0  # set as an attribute, past set_params
    with pytest.raises(ValueError, match="'batch_size' parameter"):
        clf.predict(X)
    clf.batch_size, clf.tta = 16, "rotate"
    with pytest.raises(ValueError, match="'tta' parameter"):
        clf.predict_proba(X)
