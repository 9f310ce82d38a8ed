"""CNNClassifier: labels and classes, class weights, partial_fit, skorch's own options."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline

from sk_cnn import CNNClassifier, ImageAugmenter, ImageNormalizer


def test_bool_labels_and_predict_proba(tiny_images, tiny_classifier):
    X, y = tiny_images
    clf = tiny_classifier(max_epochs=5).fit(X, y.astype(bool))
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)
    assert clf.predict(X).dtype == bool
    assert np.array_equal(clf.predict(X), clf.classes_[proba.argmax(axis=1)])


def test_device_auto_is_kept_as_setting_and_resolved_after_loading(tiny_images, tiny_classifier):
    X, y = tiny_images
    clf = tiny_classifier().fit(X, y)
    assert clf.get_params()["device"] == "auto"
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert clf.device == expected
    loaded = pickle.loads(pickle.dumps(clf))
    assert loaded.get_params()["device"] == "auto"
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks loading on a machine without CUDA")
def test_model_saved_with_cuda_device_predicts_on_cpu(tiny_images, tiny_classifier):
    X, y = tiny_images
    clf = tiny_classifier().fit(X, y)
    state = clf.__getstate__()
    state["device"] = "cuda"  # what a model trained with device="cuda" carries
    loaded = CNNClassifier.__new__(CNNClassifier)
    with pytest.warns(UserWarning, match="cuda"):
        loaded.__setstate__(state)
    assert str(loaded.device) == "cpu"
    np.testing.assert_allclose(loaded.predict_proba(X), clf.predict_proba(X), rtol=1e-6)


def test_clone_of_fitted_model_is_unfitted(tiny_images, tiny_classifier):
    X, y = tiny_images
    clf = tiny_classifier().fit(X, y)
    with pytest.raises(NotFittedError):
        clone(clf).predict(X)


def test_class_weight_and_label_smoothing_reach_the_loss(tiny_images, tiny_classifier):
    X, y = tiny_images
    y = y.copy()
    y[:24] = 1  # 8 of class 0, 56 of class 1
    clf = tiny_classifier(class_weight="balanced", label_smoothing=0.1).fit(X, y)
    np.testing.assert_allclose(clf.criterion_.weight.cpu().numpy(), [64 / 16, 64 / 112], rtol=1e-6)
    assert clf.criterion_.label_smoothing == 0.1


def test_balanced_class_weight_with_classes_absent_from_y(tiny_images, tiny_classifier):
    # A cross-validation fold without the rare class, or a first partial_fit batch without it:
    # scikit-learn's compute_class_weight refuses classes absent from y.
    X, y = tiny_images
    y = (np.arange(len(y)) % 4 == 0).astype(int)  # 48 of class 0, 16 of class 1
    clf = tiny_classifier(class_weight="balanced", classes=[0, 1, 2]).fit(X, y)
    np.testing.assert_allclose(clf.criterion_.weight.cpu().numpy(), [64 / 96, 64 / 32, 1.0],
                               rtol=1e-6)
    clf = tiny_classifier(class_weight="balanced").partial_fit(X, y, classes=[0, 1, 2])
    np.testing.assert_allclose(clf.class_weight_, [64 / 96, 64 / 32, 1.0])


def test_skorch_prefixes_still_work(tiny_images, tiny_classifier):
    X, y = tiny_images
    clf = tiny_classifier(optimizer__lr=0.123, iterator_train__drop_last=True,
                          validation_fraction=None, lr_schedule=None).fit(X[:60], y[:60])
    assert clf.optimizer_.param_groups[0]["lr"] == 0.123
    assert len(clf.history[-1, "batches"]) == 3  # 60 samples: 3 x 16, the last 12 dropped
    assert clf.history[-1, "batches", -1, "train_batch_size"] == 16
    with pytest.raises(ValueError, match="optimizer__lr"):
        tiny_classifier(optimizer_lr=0.1).fit(X, y)


def test_user_module_with_dataloader(tiny_images, tiny_classifier):
    X, y = tiny_images

    class Tiny(torch.nn.Module):
        def __init__(self, hidden=8):
            super().__init__()
            self.net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(432, hidden),
                                           torch.nn.ReLU(), torch.nn.Linear(hidden, 2))

        def forward(self, x):
            return self.net(x)

    clf = tiny_classifier(module=Tiny, module__hidden=5,
                          iterator_train=torch.utils.data.DataLoader,
                          iterator_valid=torch.utils.data.DataLoader, max_epochs=3).fit(X, y)
    assert clf.module_.net[1].out_features == 5
    assert clf.predict(X).shape == (64,)


def test_partial_fit_continues_training(tiny_images, tiny_classifier):
    X, y = tiny_images
    clf = tiny_classifier(max_epochs=2).partial_fit(X, y)  # unfitted: a full fit
    weights = clf.module_.head.output.weight.detach().clone()
    clf.partial_fit(X, y)
    assert len(clf.history) == 4
    assert not torch.equal(weights, clf.module_.head.output.weight)
    with pytest.raises(ValueError, match="not among the classes"):
        clf.partial_fit(X, y + 5)
    with pytest.raises(ValueError, match="inconsistent numbers"):
        clf.partial_fit(X, y[:-1])


def test_partial_fit_takes_every_class_in_the_first_call(tiny_images, tiny_classifier):
    # scikit-learn's incremental pattern: the first batch lacks class 2.
    X, y = tiny_images
    clf = tiny_classifier(max_epochs=1).partial_fit(X, y, classes=[0, 1, 2])
    assert list(clf.classes_) == [0, 1, 2] and clf.predict_proba(X).shape == (64, 3)
    clf.partial_fit(X[:8], np.full(8, 2), classes=[0, 1, 2])
    clf.partial_fit(X[:8], np.full(8, 2))
    assert len(clf.history) == 3


def test_fixed_classes_parameter(tiny_images, tiny_classifier):
    X, y = tiny_images
    labels = np.array(["b", "a"])[y]
    clf = tiny_classifier(classes=["b", "a", "c"], max_epochs=3).fit(X, labels)
    assert list(clf.classes_) == ["b", "a", "c"]
    assert clf.predict_proba(X).shape == (64, 3)
    assert set(clf.predict(X)) <= {"a", "b", "c"}
    with pytest.raises(ValueError, match="not among the classes"):
        tiny_classifier(classes=["a", "b"]).fit(X, np.array(["a", "z"])[y])


def test_not_fitted_error(tiny_images):
    X, _ = tiny_images
    clf = CNNClassifier()
    for method in (clf.predict, clf.predict_proba):
        with pytest.raises(NotFittedError):
            method(X)




def test_classifier_learns_multichannel_signals(two_frequency_signals):
    X, y = two_frequency_signals()
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0,
                                                        stratify=y)
    pipe = Pipeline([
        ("norm", ImageNormalizer(input_type="signal")),
        ("aug", ImageAugmenter(horizontal_flip=False, crop_padding=4, noise=0.1, scaling=0.2)),
        ("cnn", CNNClassifier(conv_filters=(16, 32), kernel_size=7, batch_size=32, max_epochs=15,
                              input_type="signal", verbose=0, random_state=0)),
    ]).fit(X_train, y_train)
    assert pipe.score(X_test, y_test) >= 0.9  # chance is 0.5; measured 0.98
    assert isinstance(pipe["cnn"].module_.features.block1.conv, torch.nn.Conv1d)
    assert pipe["cnn"].module_.features.block1.conv.in_channels == 2
    summary = pipe["cnn"].summary()
    assert summary.layers[0].output_shape[1:] == (16, 64)

