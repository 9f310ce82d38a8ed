"""transform: the network's feature vectors, the input of its output layer."""

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline

from sk_cnn import CNNClassifier, CNNRegressor, ImageNormalizer


def _softmax(z):
    z = np.exp(z - z.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("params", [{}, {"dense_units": (6,)}, {"tta": "flip"}])
def test_features_are_what_the_output_layer_maps_to_the_probabilities(
        tiny_images, tiny_classifier, params):
    X, y = tiny_images
    clf = tiny_classifier(**params).fit(X, y)
    features = clf.transform(X)
    layer = clf.module_.head.output
    assert features.shape == (len(X), layer.in_features) and features.dtype == np.float32
    logits = features @ layer.weight.detach().numpy().T + layer.bias.detach().numpy()
    if clf.tta is None:
        np.testing.assert_allclose(_softmax(logits), clf.predict_proba(X), rtol=1e-4, atol=1e-6)
    else:  # tta averages mirror images in predict; transform embeds the images as they are
        no_tta = clone(clf).set_params(tta=None)
        no_tta.fit(X, y)
        np.testing.assert_allclose(features, no_tta.transform(X), rtol=1e-5, atol=1e-6)
    # Batches do not matter (evaluation mode), and the estimator predicts as before.
    before = clf.predict_proba(X)
    np.testing.assert_allclose(clf.set_params(batch_size=5).transform(X), features,
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(clf.predict_proba(X), before)


def test_regressor_features_give_its_predictions(tiny_images):
    X, y = tiny_images
    reg = CNNRegressor(conv_filters=(4, 8), max_epochs=2, verbose=0, random_state=0)
    reg.fit(X, y * 3.0 + 5)
    features = reg.transform(X)
    layer = reg.module_.head.output
    scaled = features @ layer.weight.detach().numpy().T + layer.bias.detach().numpy()
    expected = scaled[:, 0] * reg.target_scale_[0] + reg.target_mean_[0]
    np.testing.assert_allclose(expected, reg.predict(X), rtol=1e-4, atol=1e-4)


def test_pipeline_trains_a_scikit_learn_model_on_the_features(tiny_images, tiny_classifier):
    X, y = tiny_images
    pipe = Pipeline([("norm", ImageNormalizer()), ("cnn", tiny_classifier(max_epochs=4)),
                     ("logreg", LogisticRegression())]).fit(X, y)
    assert pipe.score(X, y) > 0.9
    names = pipe["cnn"].get_feature_names_out()
    assert names[0] == "cnnclassifier0" and len(names) == pipe["logreg"].n_features_in_
    Ridge().fit(pipe[:-1].transform(X), y)  # any model takes the features


def test_unfitted_and_wrong_input_are_refused(tiny_images, tiny_classifier):
    X, y = tiny_images
    with pytest.raises(NotFittedError):
        tiny_classifier().transform(X)
    clf = tiny_classifier().fit(X, y)
    with pytest.raises(ValueError, match="fitted on samples of shape"):
        clf.transform(X[:, :8])


class _NoLinear(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 2, 3)

    def forward(self, x):
        return self.conv(x).mean(dim=(2, 3))


def test_a_network_without_output_layer_is_refused_by_name(tiny_images):
    X, y = tiny_images
    clf = CNNClassifier(_NoLinear, max_epochs=1, verbose=0).fit(X, y)
    with pytest.raises(ValueError, match="no nn.Linear output layer"):
        clf.transform(X)
