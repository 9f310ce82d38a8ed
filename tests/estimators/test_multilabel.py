"""Multi-label targets: an (n_samples, n_labels) 0/1 matrix, one sigmoid per label."""

import json

import numpy as np
import pytest
import scipy.sparse
import torch
from sklearn.model_selection import GridSearchCV

import sk_cnn
from sk_cnn import CNNClassifier


@pytest.fixture(scope="module")
def bars():
    """16x16 gray images with a horizontal bar (label 0), a vertical bar (label 1), both or
    neither, at random places; the labels drawn independently."""
    rng = np.random.default_rng(0)
    Y = rng.integers(0, 2, size=(320, 2))
    X = rng.uniform(0, 0.3, size=(320, 16, 16)).astype(np.float32)
    for image, (horizontal, vertical) in zip(X, Y):
        if horizontal:
            row, col = rng.integers(0, 16), rng.integers(0, 10)
            image[row, col:col + 6] += 0.7
        if vertical:
            row, col = rng.integers(0, 10), rng.integers(0, 16)
            image[row:row + 6, col] += 0.7
    return X, Y


def _multilabel(**params):
    # Global max pooling: a thin bar is a few pixels of the image, which averaging dilutes.
    defaults = dict(conv_filters=(8, 16), global_pool="max", max_epochs=6, batch_size=16,
                    verbose=0, random_state=0)
    return CNNClassifier(**{**defaults, **params})


def test_learns_each_label_with_a_sigmoid(bars):
    X, Y = bars
    clf = _multilabel().fit(X[:160], Y[:160])
    assert clf.multilabel_ and isinstance(clf.criterion_, torch.nn.BCEWithLogitsLoss)
    np.testing.assert_array_equal(clf.classes_, [0, 1])
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), 2) and ((proba >= 0) & (proba <= 1)).all()
    assert not np.allclose(proba.sum(axis=1), 1)  # not a softmax
    pred = clf.predict(X)
    assert pred.shape == Y.shape and set(np.unique(pred)) <= {0, 1}
    np.testing.assert_array_equal(pred, (proba >= 0.5).astype(int))
    assert clf.score(X[160:], Y[160:]) > 0.8  # every label right, as accuracy_score counts
    assert {"valid_acc", "train_acc"} <= set(clf.history[-1])
    # threshold moves the decision, without refitting.
    np.testing.assert_array_equal(clf.set_params(threshold=0.9).predict(X), proba >= 0.9)


def test_label_names_sparse_targets_and_partial_fit(bars):
    X, Y = bars
    clf = _multilabel(max_epochs=1, classes=["top_left", "bottom_right"])
    clf.fit(X, scipy.sparse.csr_matrix(Y))
    np.testing.assert_array_equal(clf.classes_, ["top_left", "bottom_right"])
    clf.partial_fit(X[:32], Y[:32])
    with pytest.raises(ValueError, match=r"0/1 matrix of shape \(n_samples, 2\)"):
        clf.partial_fit(X[:32], Y[:32, 0])
    with pytest.raises(ValueError, match="one name per column"):
        _multilabel(classes=["a", "b", "c"]).fit(X, Y)


def test_grid_search_scores_f1_macro(bars):
    X, Y = bars
    search = GridSearchCV(_multilabel(), {"dropout": [0.0, 0.2]}, scoring="f1_macro", cv=2,
                          refit=False).fit(X, Y)
    assert search.best_score_ > 0.85


def test_other_2d_targets_and_single_label_options_are_refused(bars):
    X, Y = bars
    with pytest.raises(ValueError, match="'multiclass-multioutput'.*MultiLabelBinarizer"):
        _multilabel().fit(X, Y * 2 + np.arange(2))
    with pytest.raises(ValueError, match="criterion__pos_weight"):
        _multilabel(class_weight="balanced").fit(X, Y)
    with pytest.raises(ValueError, match="criterion__pos_weight"):
        _multilabel(label_smoothing=0.1).fit(X, Y)
    with pytest.raises(ValueError, match="'threshold' parameter"):
        _multilabel(threshold=1.5).fit(X, Y)


def test_save_load_and_export_keep_it(bars, tmp_path):
    X, Y = bars
    clf = _multilabel(max_epochs=1, threshold=0.4).fit(X, Y)
    loaded = sk_cnn.load(sk_cnn.save(clf, tmp_path / "m.safetensors"))
    assert loaded.multilabel_
    np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))
    ort = pytest.importorskip("onnxruntime")
    path = sk_cnn.export_onnx(clf, tmp_path / "m.onnx")
    session = ort.InferenceSession(str(path))
    proba = session.run(None, {"X": X[:7]})[0]
    np.testing.assert_allclose(proba, clf.predict_proba(X[:7]), rtol=1e-4, atol=1e-5)
    meta = session.get_modelmeta().custom_metadata_map
    assert json.loads(meta["multilabel"]) is True and json.loads(meta["threshold"]) == 0.4
