"""Whole pipelines: digits accuracy, cross-validation, labels of any type, pickling in a
fresh process, clone."""

import subprocess
import sys
import textwrap

import joblib
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import cross_val_score


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_digits_pipeline_reaches_97_percent(digits_split, digits_pipeline, seed):
    X_train, X_test, y_train, y_test = digits_split
    pipe = digits_pipeline(max_epochs=20, random_state=seed)
    pipe.fit(X_train, y_train)
    assert pipe.score(X_test, y_test) >= 0.97


def test_digits_cross_validation_averages_93_percent(digits_split, digits_pipeline):
    X_train, X_test, y_train, y_test = digits_split
    X, y = np.concatenate([X_train, X_test]), np.concatenate([y_train, y_test])
    scores = cross_val_score(digits_pipeline(max_epochs=10, random_state=0), X, y, cv=3)
    assert scores.mean() >= 0.93


def test_string_labels_end_to_end(digits_split, digits_pipeline):
    X_train, X_test, y_train, y_test = digits_split
    names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
                      "nine"])
    pipe = digits_pipeline(max_epochs=5, random_state=0).fit(X_train, names[y_train])
    assert list(pipe.classes_) == sorted(names)
    predicted = pipe.predict(X_test)
    assert set(predicted) <= set(names)
    assert pipe.score(X_test, names[y_test]) >= 0.9


def test_joblib_round_trip_in_fresh_process(tmp_path, digits_split, digits_pipeline):
    X_train, X_test, y_train, _ = digits_split
    pipe = digits_pipeline(max_epochs=3, random_state=0).fit(X_train, y_train)
    path = tmp_path / "model.joblib"
    joblib.dump(pipe, path)
    np.save(tmp_path / "X.npy", X_test)
    script = textwrap.dedent(f"""
        import joblib, numpy as np
        pipe = joblib.load({str(path)!r})
        X = np.load({str(tmp_path / "X.npy")!r})
        np.save({str(tmp_path / "proba.npy")!r}, pipe.predict_proba(X))
    """)
    subprocess.run([sys.executable, "-c", script], check=True)
    np.testing.assert_array_equal(np.load(tmp_path / "proba.npy"), pipe.predict_proba(X_test))


def test_clone_and_params_round_trip(digits_pipeline):
    pipe = digits_pipeline(dropout=0.3, optimizer="sgd", conv_filters=(8, 16))
    copy = clone(pipe)
    assert copy is not pipe
    params, copy_params = pipe.get_params(deep=True), copy.get_params(deep=True)
    assert params.keys() == copy_params.keys()
    for key in ["cnn__dropout", "cnn__optimizer", "cnn__conv_filters", "cnn__device",
                "aug__crop_padding", "reshape__image_shape"]:
        assert params[key] == copy_params[key]
    copy.set_params(cnn__dropout=0.1, cnn__lr=0.01, aug__crop_padding=2)
    assert copy.get_params()["cnn__dropout"] == 0.1
    assert copy.get_params()["cnn__lr"] == 0.01
    assert copy.get_params()["aug__crop_padding"] == 2
    assert pipe.get_params()["cnn__dropout"] == 0.3


def test_clone_of_a_fitted_pipeline_fits_again(tiny_images, tiny_classifier):
    # Bookkeeping kept between calls (here alternate flip's first-epoch mask) is no parameter.
    from sklearn.pipeline import make_pipeline

    from sk_cnn import ImageAugmenter

    X, y = tiny_images
    pipe = make_pipeline(ImageAugmenter(horizontal_flip="alternate", crop_padding=1),
                         tiny_classifier(max_epochs=1)).fit(X, y)
    assert "_" not in "".join(k[0] for k in pipe[-1].get_params(deep=False))
    clone(pipe).fit(X, y)
    assert repr(pipe[-1]) == repr(clone(pipe[-1]))

