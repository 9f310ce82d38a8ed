"""Input arrays: layouts, dtypes, shapes, and the caller's data left as it was."""

import re
import warnings

import numpy as np
import pytest
import torch

from sk_cnn import CNNClassifier, ImageNormalizer


@pytest.mark.parametrize(
    "layout", ["nhwc_uint8", "nchw_float", "nhw_float", "signals"])
def test_input_layouts(tiny_images, tiny_classifier, layout):
    X, y = tiny_images
    X = {
        "nhwc_uint8": X,
        "nchw_float": X.transpose(0, 3, 1, 2).astype(np.float32) / 255,
        "nhw_float": X[..., 0].astype(np.float64) / 255,
        "signals": X[..., 0].reshape(len(X), -1).astype(np.float32) / 255,
    }[layout]
    # 8-16 filters and 20 epochs: with 4-8 filters a 1-D net stays stuck for some seeds
    # (measured: 1 of 6), and batch norm's running statistics need a few dozen steps.
    # Rows of 256 values could be flat 16x16 images: signals must be named as such.
    signal = {"input_type": "signal"} if layout == "signals" else {}
    clf = tiny_classifier(conv_filters=(8, 16), max_epochs=20, **signal).fit(X, y)
    assert clf.input_shape_ == X.shape[1:]
    first_conv = clf.module_.features.block1.conv
    expected = torch.nn.Conv1d if layout == "signals" else torch.nn.Conv2d
    assert isinstance(first_conv, expected)
    assert first_conv.in_channels == (3 if layout in ("nhwc_uint8", "nchw_float") else 1)
    assert clf.score(X, y) >= 0.8


@pytest.mark.parametrize("n_columns, shape", [(64, (8, 8)), (784, (28, 28)),
                                              (3072, (32, 32, 3))])
def test_flat_pixel_rows_are_refused_with_the_reshaper_and_their_likely_shape(n_columns, shape):
    X, y = np.zeros((6, n_columns), np.float32), np.arange(6) % 2
    pattern = rf"{n_columns} columns.*ImageReshaper\(image_shape={re.escape(str(shape))}\)" \
              rf".*input_type='signal'"
    with pytest.raises(ValueError, match=pattern):
        CNNClassifier(max_epochs=1, verbose=0).fit(X, y)
    with pytest.raises(ValueError, match=pattern):
        ImageNormalizer().fit(X)
    clf = CNNClassifier(max_epochs=1, verbose=0, conv_filters=(4,), input_type="signal")
    assert clf.fit(X, y).module_.features.block1.conv.__class__ is torch.nn.Conv1d


def test_rows_that_cannot_be_square_images_are_signals():
    # 10 columns (scikit-learn's estimator checks), 140 (an ECG beat): no square image.
    for n_columns in (10, 140):
        X, y = np.random.default_rng(0).normal(size=(6, n_columns)), np.arange(6) % 2
        clf = CNNClassifier(max_epochs=1, verbose=0, conv_filters=(4,)).fit(X, y)
        assert isinstance(clf.module_.features.block1.conv, torch.nn.Conv1d)


def test_a_list_of_pil_images_predicts_as_it_fits(tiny_images, tiny_classifier):
    from PIL import Image

    X, y = tiny_images
    images = [Image.fromarray(image) for image in X]
    clf = tiny_classifier().fit(images, y)
    np.testing.assert_array_equal(clf.predict(images), clf.predict(X))
    np.testing.assert_allclose(clf.predict_proba(images), clf.predict_proba(X))
    assert clf.score(images, y) == clf.score(X, y)
    images[1] = images[1].resize((8, 8))
    with pytest.raises(ValueError, match=r"2 different shapes.*ImageLoader\(size=\.\.\.\)"):
        clf.predict(images)


def test_uint8_and_scaled_float_give_the_same_network_input(tiny_images, tiny_classifier):
    X, y = tiny_images
    clf = tiny_classifier().fit(X, y)
    as_float = X.astype(np.float32) / 255
    np.testing.assert_allclose(clf.predict_proba(X), clf.predict_proba(as_float), atol=1e-6)


def test_predict_on_other_image_shape_names_both_shapes(tiny_images, tiny_classifier):
    X, y = tiny_images
    clf = tiny_classifier().fit(X, y)
    with pytest.raises(ValueError, match=r"\(12, 12, 3\).*\(10, 10, 3\)"):
        clf.predict(X[:, :10, :10])
    with pytest.raises(ValueError, match=r"\(12, 12, 3\).*\(12, 12, 1\)"):
        clf.predict(X[..., :1])
    with pytest.raises(ValueError, match=r"\(12, 12, 3\).*\(432,\).*reshape the rows"):
        clf.predict(X.reshape(len(X), -1))  # flat rows (sklearn said "expecting 12 features")


def test_ambiguous_layout_asks_for_channels(tiny_classifier):
    X = np.zeros((6, 3, 8, 3), dtype=np.float32)
    with pytest.raises(ValueError, match="channels='first' or channels='last'"):
        tiny_classifier().fit(X, [0, 1] * 3)
    clf = tiny_classifier(channels="first", max_epochs=1).fit(X, [0, 1] * 3)
    assert clf.module_.features.block1.conv.in_channels == 3


def test_callers_arrays_are_not_mutated(tiny_images, tiny_classifier):
    X, y = tiny_images
    X_float = X.astype(np.float32) / 255
    copies = X.copy(), X_float.copy(), y.copy()
    clf = tiny_classifier().fit(X_float, y)
    clf.predict(X_float)
    tiny_classifier().fit(X, y).predict(X)
    np.testing.assert_array_equal(X, copies[0])
    np.testing.assert_array_equal(X_float, copies[1])
    np.testing.assert_array_equal(y, copies[2])


def test_read_only_input(tiny_images, tiny_classifier):
    X, y = tiny_images
    X = X.copy()
    X.setflags(write=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        tiny_classifier().fit(X, y).predict(X)


def test_pixels_that_lost_their_uint8_scaling_warn(tiny_images, tiny_classifier):
    # uint8 is scaled to [0, 1], other dtypes are not: the same pixels as int64 would reach
    # the network 255 times larger. Floats scaled to [0, 1] by the user are fine.
    X, y = tiny_images
    norm = ImageNormalizer().fit(X)
    clf = tiny_classifier(max_epochs=1).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for model in (norm.transform, clf.predict):
            model(X)
            model(X.astype(np.float32) / 255)
    for model in (norm.transform, clf.predict):
        with pytest.warns(UserWarning, match="fitted on uint8 pixels.*X is int64 with values"):
            model(X.astype(np.int64))




def test_channels_last_signals_match_channels_first(two_frequency_signals):
    X, y = two_frequency_signals(n=64, length=32)
    params = dict(conv_filters=(4,), max_epochs=2, batch_size=16, verbose=0, random_state=0,
                  input_type="signal")
    first = CNNClassifier(**params).fit(X, y)
    last = CNNClassifier(channels="last", **params).fit(X.transpose(0, 2, 1).copy(), y)
    np.testing.assert_allclose(last.predict_proba(X.transpose(0, 2, 1)), first.predict_proba(X),
                               rtol=1e-5, atol=1e-6)


def test_input_type_errors_name_the_fix(two_frequency_signals):
    X, y = two_frequency_signals(n=20, length=16)
    with pytest.raises(ValueError, match="input_type='signal'"):
        CNNClassifier(input_type="signal", verbose=0).fit(X[:, :, :, None], y)
    with pytest.raises(ValueError, match="ImageReshaper"):
        CNNClassifier(input_type="image", verbose=0).fit(X[:, 0], y)
    with pytest.raises(ValueError, match="input_type"):
        CNNClassifier(input_type="video", verbose=0).fit(X, y)
    with pytest.raises(ValueError, match="mirrors images"):
        CNNClassifier(input_type="signal", tta="flip", verbose=0).fit(X, y)

