"""Test-time augmentation: which views are averaged, where it applies and where not."""


import numpy as np
import pytest
import torch

from sk_cnn import export_onnx
from sk_cnn.networks._tta import tta_logits


# ------------------------------------------------------------------ TTA
def test_tta_averages_the_right_views():
    X = torch.randn(3, 2, 10, 10)

    def center(x):  # reads one interior pixel of each channel
        return x[:, :, 4, 4]

    torch.testing.assert_close(tta_logits(center, X, None), X[:, :, 4, 4])
    flip = (X[:, :, 4, 4] + X[:, :, 4, 5]) / 2
    torch.testing.assert_close(tta_logits(center, X, "flip"), flip)
    # Shifted by one pixel down-right and up-left, each with its mirror image.
    shifted = (X[:, :, 3, 3] + X[:, :, 3, 4] + X[:, :, 5, 5] + X[:, :, 5, 6]) / 4
    torch.testing.assert_close(tta_logits(center, X, "flip_translate"), flip / 2 + shifted / 2)


@pytest.mark.parametrize("tta", [None, "flip", "flip_translate"])
def test_tta_options_in_predict(tiny_images, tta, tiny_airbench):
    X, y = tiny_images
    clf = tiny_airbench(max_epochs=1, tta=tta).fit(X, y)
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), 2)
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[proba.argmax(axis=1)])
    # Each mode averages other views: the same network gives other probabilities.
    for other in {None, "flip", "flip_translate"} - {tta}:
        assert not np.allclose(proba, clf.set_params(tta=other).predict_proba(X),
                               rtol=0, atol=1e-6), f"tta={tta!r} predicts as tta={other!r}"
    np.testing.assert_array_equal(clf.set_params(tta=tta).predict_proba(X), proba)


def test_flip_translate_tta_works_with_the_plain_network(tiny_images, tiny_classifier):
    X, y = tiny_images
    clf = tiny_classifier(tta="flip_translate").fit(X, y)
    plain = clf.predict_proba(X)
    assert plain.shape == (len(X), 2)
    assert not np.allclose(plain, clf.set_params(tta=None).predict_proba(X))


def test_flip_translate_refuses_signals_and_export(tiny_images, tiny_classifier, tmp_path):
    with pytest.raises(ValueError, match="1-D signals"):
        signals = np.random.default_rng(0).random((20, 16))
        tiny_classifier(tta="flip_translate").fit(signals, np.arange(20) % 2)
    X, y = tiny_images
    clf = tiny_classifier(tta="flip_translate", max_epochs=1).fit(X, y)
    with pytest.raises(ValueError, match="cannot be exported"):
        export_onnx(clf, tmp_path / "model.onnx")


def test_flip_test_time_augmentation_averages_with_the_mirror_image(tiny_images,
                                                                    tiny_classifier):
    X, y = tiny_images
    clf = tiny_classifier().fit(X, y)
    plain = clf.predict_proba(X)
    mirrored = clf.predict_proba(X[:, :, ::-1])
    clf.set_params(tta="flip")
    with_tta = clf.predict_proba(X)
    logits = np.log(plain) + np.log(mirrored)  # softmax of averaged logits, up to a constant
    expected = np.exp(logits / 2) / np.exp(logits / 2).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(with_tta, expected, rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match="1-D signals"):
        tiny_classifier(tta="flip").fit(X[..., 0].reshape(len(X), -1), y)

