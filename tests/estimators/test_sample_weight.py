"""sample_weight: each sample's loss times its weight, in fit, partial_fit, the validation loss,
score, and through Pipeline, GridSearchCV (metadata routing) and scikit-learn's ensembles."""

import numpy as np
import pytest
import sklearn
import torch
from sklearn.ensemble import AdaBoostClassifier, BaggingClassifier
from sklearn.metrics import accuracy_score
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline, make_pipeline

from sk_cnn import CNNClassifier, CNNRegressor, ImageNormalizer, ImageReshaper
from sk_cnn.training._sample_weight import weighted_loss


def _parameters(net):
    return [p.detach().clone() for p in net.module_.parameters()]


def _assert_same_network(a, b):
    for p, q in zip(_parameters(a), _parameters(b), strict=True):
        torch.testing.assert_close(p, q, rtol=0, atol=0)


def test_a_zero_weight_sample_contributes_nothing(tiny_images, tiny_classifier):
    """Fits that differ only in the labels of zero-weight samples train the same network,
    bit for bit; the same weights without the zeros train another."""
    X, y = tiny_images
    weights = np.ones(len(X))
    weights[::4] = 0.0
    relabelled = y.copy()
    relabelled[::4] = 1 - relabelled[::4]
    params = dict(validation_fraction=None, max_epochs=2)
    a = tiny_classifier(**params).fit(X, y, sample_weight=weights)
    b = tiny_classifier(**params).fit(X, relabelled, sample_weight=weights)
    _assert_same_network(a, b)
    c = tiny_classifier(**params).fit(X, relabelled, sample_weight=weights + 0.5)
    assert not torch.equal(_parameters(a)[-1], _parameters(c)[-1])


def test_zero_weight_targets_leave_the_regressor_and_its_scaling_alone(tiny_images):
    X, y = tiny_images
    targets = y * 2.0 + 1
    weights = np.ones(len(X))
    weights[:5] = 0.0
    outliers = targets.copy()
    outliers[:5] = 1e6
    params = dict(conv_filters=(4,), max_epochs=2, validation_fraction=None, verbose=0,
                  random_state=0)
    a = CNNRegressor(**params).fit(X, targets, sample_weight=weights)
    b = CNNRegressor(**params).fit(X, outliers, sample_weight=weights)
    np.testing.assert_allclose(a.target_mean_, np.average(targets, weights=weights))
    np.testing.assert_allclose(b.target_scale_, a.target_scale_)
    np.testing.assert_allclose(b.predict(X), a.predict(X), rtol=1e-6)


def test_weights_multiply_each_samples_loss():
    torch.manual_seed(0)
    logits, labels = torch.randn(6, 3), torch.tensor([0, 1, 2, 0, 1, 2])
    weights = torch.tensor([0.0, 1.0, 2.0, 0.5, 1.0, 1.5])
    per_sample = torch.nn.functional.cross_entropy(logits, labels, reduction="none")
    loss = weighted_loss(torch.nn.CrossEntropyLoss(), logits, labels, weights)
    torch.testing.assert_close(loss, (weights * per_sample).mean())
    # Weights of 1 give the criterion's own loss, class weights and label smoothing included.
    criterion = torch.nn.CrossEntropyLoss(weight=torch.tensor([1.0, 2.0, 0.5]),
                                          label_smoothing=0.1)
    torch.testing.assert_close(weighted_loss(criterion, logits, labels, torch.ones(6)),
                               criterion(logits, labels))
    targets = torch.randn(6, 2)
    torch.testing.assert_close(
        weighted_loss(torch.nn.MSELoss(), logits[:, :2], targets, weights),
        (weights * ((logits[:, :2] - targets) ** 2).mean(dim=1)).mean())


def test_the_validation_loss_is_weighted(tiny_images, tiny_classifier):
    X, y = tiny_images
    weights = np.random.default_rng(0).uniform(0, 3, len(X))
    clf = tiny_classifier(max_epochs=1, validation_fraction=0.25, lr_schedule=None)
    clf.fit(X, y, sample_weight=weights)
    # The split depends on the number of samples, the labels and the fit's seed only.
    _, valid = clf.get_split_datasets(torch.zeros(len(X)), torch.as_tensor(y))
    index = np.asarray(valid.indices)
    proba = clf.predict_proba(X[index])
    per_sample = -np.log(proba[np.arange(len(index)), y[index]])
    mean_one = weights * len(weights) / weights.sum()
    expected = np.mean(mean_one[index] * per_sample)
    assert clf.history[-1, "valid_loss"] == pytest.approx(expected, rel=1e-4)
    unweighted = np.mean(per_sample)
    assert abs(expected - unweighted) > 1e-3  # the check can tell them apart


def test_only_the_ratios_matter_and_equal_weights_are_no_weights(tiny_images, tiny_classifier):
    X, y = tiny_images
    weights = np.random.default_rng(1).uniform(0.5, 2, len(X))
    a = tiny_classifier(max_epochs=1).fit(X, y, sample_weight=weights)
    b = tiny_classifier(max_epochs=1).fit(X, y, sample_weight=weights / weights.sum())
    np.testing.assert_allclose(a.predict_proba(X), b.predict_proba(X), rtol=1e-5, atol=1e-6)
    c = tiny_classifier(max_epochs=1).fit(X, y, sample_weight=np.full(len(X), 3.0))
    d = tiny_classifier(max_epochs=1).fit(X, y)
    _assert_same_network(c, d)
    # partial_fit takes weights too, and they change what it learns.
    e = tiny_classifier(max_epochs=1).fit(X, y).partial_fit(X, y, sample_weight=weights)
    f = tiny_classifier(max_epochs=1).fit(X, y).partial_fit(X, y)
    assert not np.allclose(e.predict_proba(X), f.predict_proba(X))


def test_weights_are_routed_through_a_pipeline_and_a_grid_search(tiny_images, tiny_classifier):
    X, y = tiny_images
    weights = np.random.default_rng(2).uniform(0, 2, len(X))
    with sklearn.config_context(enable_metadata_routing=True):
        cnn = tiny_classifier().set_fit_request(sample_weight=True).set_score_request(
            sample_weight=True)
        pipe = Pipeline([("norm", ImageNormalizer()), ("cnn", cnn)])
        pipe.fit(X, y, sample_weight=weights)
        direct = tiny_classifier().fit(ImageNormalizer().fit_transform(X), y,
                                       sample_weight=weights)
        np.testing.assert_allclose(pipe.predict_proba(X), direct.predict_proba(
            ImageNormalizer().fit_transform(X)), rtol=1e-5, atol=1e-6)
        assert pipe.score(X, y, sample_weight=weights) == pytest.approx(
            accuracy_score(y, pipe.predict(X), sample_weight=weights))
        search = GridSearchCV(pipe, {"cnn__dropout": [0.0, 0.2]}, cv=2).fit(
            X, y, sample_weight=weights)
        np.testing.assert_allclose(
            search.best_estimator_.predict_proba(X),
            pipe.set_params(cnn__dropout=search.best_params_["cnn__dropout"]).fit(
                X, y, sample_weight=weights).predict_proba(X), rtol=1e-5, atol=1e-6)


def test_adaboost_and_bagging_train_cnns(tiny_images):
    X, y = tiny_images
    cnn = CNNClassifier(conv_filters=(4, 8), max_epochs=2, lr=1e-2, batch_size=16, verbose=0,
                        random_state=0)
    boost = AdaBoostClassifier(cnn, n_estimators=2, random_state=0).fit(X, y)
    assert boost.score(X, y) > 0.8
    # Bagging takes 2-D X only: flat rows, made images again by the pipeline.
    rows = X.reshape(len(X), -1)
    bag = BaggingClassifier(make_pipeline(ImageReshaper(image_shape=(12, 12, 3)),
                                          ImageNormalizer(), cnn),
                            n_estimators=2, random_state=0).fit(rows, y)
    assert bag.score(rows, y) > 0.8


def test_weights_need_the_batch_iterator(tiny_images, tiny_classifier):
    X, y = tiny_images
    clf = tiny_classifier(iterator_train=torch.utils.data.DataLoader)
    with pytest.raises(ValueError, match="iterator_train=BatchIterator"):
        clf.fit(X, y, sample_weight=np.arange(len(X)))
