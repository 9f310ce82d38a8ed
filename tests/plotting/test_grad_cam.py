"""plot_grad_cam: each image with its Grad-CAM map over it and its labels."""

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
from sklearn.pipeline import Pipeline

from sk_cnn import CNNClassifier, CNNRegressor, ImageNormalizer
from sk_cnn.datasets import load_digits_images
from sk_cnn.inspection import grad_cam
from sk_cnn.plotting import plot_grad_cam


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def digits_pipe():
    X, y = load_digits_images()
    pipe = Pipeline([("norm", ImageNormalizer()),
                     ("cnn", CNNClassifier(conv_filters=(8, 16), max_epochs=3, verbose=0,
                                           random_state=0))])
    return pipe.fit(X[:400], y[:400]), X[400:460], y[400:460]


def _image_axes(fig):
    return [ax for ax in fig.axes if ax.get_images()]


def test_images_carry_their_map_and_predicted_and_true_titles(digits_pipe):
    pipe, X, y = digits_pipe
    fig = plot_grad_cam(pipe, X, y, n_images=6, alpha=0.3)
    assert isinstance(fig, matplotlib.figure.Figure)
    axes = _image_axes(fig)
    assert len(axes) == 6 and len(fig.axes) == 7  # and the colorbar
    maps, predicted = grad_cam(pipe, X[:6]), pipe.predict(X[:6])
    normalized = pipe[:-1].transform(X[:6])
    for i, ax in enumerate(axes):
        image, overlay = ax.get_images()
        assert image.get_array().shape == (8, 8)
        # The image as the network receives it (gray: matplotlib scales it).
        np.testing.assert_array_equal(image.get_array(), normalized[i])
        np.testing.assert_array_equal(overlay.get_array(), maps[i])
        assert overlay.get_alpha() == 0.3
        assert ax.get_title() == f"predicted: {predicted[i]}\ntrue: {y[i]}"
        assert ax.title.get_color() == ("black" if predicted[i] == y[i] else "red")
    assert fig._suptitle.get_text() == "Grad-CAM at features.block2.act (red: wrong)"


def test_a_map_of_another_class_says_which(digits_pipe):
    pipe, X, _ = digits_pipe
    predicted = pipe.predict(X[:4])
    names = {label: f"digit {label}" for label in range(10)}
    fig = plot_grad_cam(pipe, X, target=3, n_images=4, class_names=names)
    for ax, label in zip(_image_axes(fig), predicted):
        assert ax.get_title() == f"predicted: digit {label}" + (
            "" if label == 3 else "\nmap: digit 3")
        np.testing.assert_array_equal(ax.get_images()[1].get_array(),
                                      grad_cam(pipe, X[:4], target=3)[_image_axes(fig).index(ax)])
    # One target per image of X: the first n_images are used.
    fig = plot_grad_cam(pipe, X, target=np.full(len(X), 3), n_images=4)
    assert len(_image_axes(fig)) == 4


def test_a_regressor_shows_its_values():
    X, y = load_digits_images()
    reg = CNNRegressor(conv_filters=(4,), max_epochs=1, verbose=0, random_state=0).fit(
        X[:100], y[:100].astype(float))
    fig = plot_grad_cam(reg, X[:3], y[:3], n_images=3)
    predicted = reg.predict(X[:3])
    assert [ax.get_title() for ax in _image_axes(fig)] == [
        f"predicted: {p:.3g}\ntrue: {t:.3g}" for p, t in zip(predicted, y[:3])]
    assert fig._suptitle.get_text() == "Grad-CAM of target 0 at features.block1.act"


@pytest.mark.parametrize("kwargs, message", [
    ({"n_images": 0}, "n_images must be a positive integer"),
    ({"alpha": 1.5}, r"alpha must be a number in \[0, 1\]"),
    ({"cmap": "no such map"}, "no such map"),
])
def test_bad_arguments_are_refused(digits_pipe, kwargs, message):
    pipe, X, y = digits_pipe
    with pytest.raises(ValueError, match=message):
        plot_grad_cam(pipe, X, y, **kwargs)
