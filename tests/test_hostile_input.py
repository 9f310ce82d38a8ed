"""Bad input, table-driven: every case gets a clear, short error naming the problem, and the
caller's arrays are byte-for-byte unchanged afterwards."""

import hashlib

import numpy as np
import pytest
import scipy.sparse
import torch
from sklearn.exceptions import NotFittedError

from sk_cnn import CNNClassifier, ImageAugmenter, ImageLoader, ImageNormalizer, ImageReshaper

RNG = np.random.default_rng(0)
IMAGES = RNG.random((24, 8, 8, 3)).astype(np.float32)  # channels-last RGB
LABELS = np.repeat([0, 1], 12)
ROWS = RNG.random((24, 64))


def clf(**params):
    return CNNClassifier(**{"conv_filters": (4,), "max_epochs": 1, "batch_size": 8,
                            "verbose": 0, "random_state": 0, **params})


_FITTED = {}


def fitted():
    """One fitted classifier (on IMAGES), shared by the predict cases."""
    if "clf" not in _FITTED:
        _FITTED["clf"] = clf().fit(IMAGES.copy(), LABELS.copy())
    return _FITTED["clf"]


def with_value(X, index, value):
    X = X.astype(np.float64)
    X.flat[index] = value
    return X


# name: (arrays given to the call, call, error type, pattern the message must contain)
CASES = {
    # --- CNNClassifier.fit: data
    "fit NaN pixel": ((with_value(IMAGES, 7, np.nan), LABELS), lambda X, y: clf().fit(X, y),
                      ValueError, "NaN"),
    "fit inf pixel": ((with_value(IMAGES, 7, np.inf), LABELS), lambda X, y: clf().fit(X, y),
                      ValueError, "infinity"),
    "fit 1-D X": ((IMAGES.ravel()[:24], LABELS), lambda X, y: clf().fit(X, y),
                  ValueError, "Expected 2D array"),
    "fit 5-D X": ((IMAGES[..., None], LABELS), lambda X, y: clf().fit(X, y),
                  ValueError, "5 dimension"),
    "fit lengths differ": ((IMAGES, LABELS[:-1]), lambda X, y: clf().fit(X, y),
                           ValueError, "inconsistent numbers of samples"),
    "fit empty": ((IMAGES[:0], LABELS[:0]), lambda X, y: clf().fit(X, y),
                  ValueError, "0 sample"),
    "fit one class": ((IMAGES, np.zeros(24)), lambda X, y: clf().fit(X, y),
                      ValueError, "one class"),
    # A 2-D 0/1 y is a multi-label target (tests/estimators/test_multilabel.py); others not.
    "fit 2-D y of classes": ((IMAGES, np.stack([LABELS, LABELS + 2], 1)),
                             lambda X, y: clf().fit(X, y), ValueError, "MultiLabelBinarizer"),
    "fit continuous y": ((IMAGES, LABELS + 0.5), lambda X, y: clf().fit(X, y),
                         ValueError, "Unknown label type"),
    "fit complex X": ((IMAGES.astype(complex), LABELS), lambda X, y: clf().fit(X, y),
                      ValueError, "Complex data not supported: X holds complex numbers"),
    "fit complex y": ((IMAGES, LABELS.astype(complex)), lambda X, y: clf().fit(X, y),
                      ValueError, "Complex data not supported: y holds complex numbers"),
    "fit string X": ((IMAGES.astype(str), LABELS), lambda X, y: clf().fit(X, y),
                     ValueError, "numeric"),
    "fit object X with None": ((np.array([[None, 1.0]] * 24, dtype=object), LABELS),
                               lambda X, y: clf().fit(X, y), ValueError, "NaN"),
    "fit sparse X": ((scipy.sparse.csr_matrix(ROWS), LABELS), lambda X, y: clf().fit(X, y),
                     TypeError, "dense data is required"),
    "fit ambiguous layout": ((RNG.random((24, 3, 8, 3)), LABELS), lambda X, y: clf().fit(X, y),
                             ValueError, "channels='first' or channels='last'"),
    "fit images too small": ((IMAGES[:, :5, :5], LABELS),
                             lambda X, y: clf(padding="valid", kernel_size=7).fit(X, y),
                             ValueError, "too small for this network"),
    "fit mixed label types": ((IMAGES, np.array(["a", 1] * 12, dtype=object)),
                              lambda X, y: clf().fit(X, y), TypeError, "mix types"),
    "fit negative sample_weight": ((IMAGES, LABELS),
                                   lambda X, y: clf().fit(X, y, sample_weight=-np.ones(24)),
                                   ValueError, "one finite weight >= 0 per sample of X (24)"),
    "fit zero sample_weight": ((IMAGES, LABELS),
                               lambda X, y: clf().fit(X, y, sample_weight=np.zeros(24)),
                               ValueError, "not all zero"),
    "fit sample_weight of another length": (
        (IMAGES, LABELS), lambda X, y: clf().fit(X, y, sample_weight=np.ones(5)),
        ValueError, "sample_weight.shape == (5,), expected (24,)"),
    "fit NaN sample_weight": (
        (IMAGES, LABELS), lambda X, y: clf().fit(X, y, sample_weight=np.r_[np.nan, np.ones(23)]),
        ValueError, "NaN"),
    "warm start on other sizes": ((IMAGES[:, :6, :6], LABELS),
                                  lambda X, y: clf(warm_start=True).fit(IMAGES, LABELS).fit(X, y),
                                  ValueError, "refit with warm_start=False"),
    "warm start with a new class": ((IMAGES, np.arange(24) % 3),
                                    lambda X, y: clf(warm_start=True).fit(IMAGES, LABELS).fit(X, y),
                                    ValueError, "not among the classes"),
    "partial_fit other classes": ((IMAGES, LABELS),
                                  lambda X, y: fitted().partial_fit(X, y, classes=[0, 1, 2]),
                                  ValueError, "Pass the same classes in every call"),
    # --- CNNClassifier: parameters
    "classes repeated": ((IMAGES, LABELS), lambda X, y: clf(classes=[0, 1, 1]).fit(X, y),
                         ValueError, "repeats the labels [1]"),
    "dropout 1.5": ((IMAGES, LABELS), lambda X, y: clf(dropout=1.5).fit(X, y),
                    ValueError, "'dropout' parameter"),
    "batch_size 0": ((IMAGES, LABELS), lambda X, y: clf(batch_size=0).fit(X, y),
                     ValueError, "'batch_size' parameter"),
    "drop_last leaves no batch": (
        (IMAGES, LABELS),
        lambda X, y: clf(batch_size=32, iterator_train__drop_last=True).fit(X, y),
        ValueError, "gives no batch"),
    "drop_last leaves no batch, per-batch schedule": (
        (IMAGES, LABELS),
        lambda X, y: clf(batch_size=32, iterator_train__drop_last=True,
                         lr_schedule="onecycle").fit(X, y),
        ValueError, "gives no batch"),
    "one-sample batch, 1x1 maps": (
        (IMAGES[:1, :1, :1], LABELS[:1]),
        lambda X, y: clf(channels="last").fit(IMAGES[:, :1, :1], LABELS).partial_fit(X, y),
        ValueError, "cannot train batch normalization"),
    "input_size without backbone": ((IMAGES, LABELS), lambda X, y: clf(input_size=32).fit(X, y),
                                    ValueError, "input_size need a backbone"),
    "input_size triple": ((IMAGES, LABELS),
                          lambda X, y: clf(backbone="resnet18", input_size=(32, 32, 3)).fit(X, y),
                          ValueError, "a pair (height, width) of positive ints"),
    "device None": ((IMAGES, LABELS), lambda X, y: clf(device=None).fit(X, y),
                    ValueError, "'device' parameter"),
    "LBFGS on images": ((IMAGES, LABELS),
                        lambda X, y: clf(optimizer=torch.optim.LBFGS).fit(X, y),
                        ValueError, "LBFGS cannot train sk_cnn's image networks"),
    "max_epochs 0": ((IMAGES, LABELS), lambda X, y: clf(max_epochs=0).fit(X, y),
                     ValueError, "'max_epochs' parameter"),
    "unknown optimizer": ((IMAGES, LABELS), lambda X, y: clf(optimizer="adma").fit(X, y),
                          ValueError, "'optimizer' parameter"),
    "unknown activation": ((IMAGES, LABELS), lambda X, y: clf(activation="relu6").fit(X, y),
                           ValueError, "'activation' parameter"),
    "unknown padding": ((IMAGES, LABELS), lambda X, y: clf(padding="full").fit(X, y),
                        ValueError, "'padding' parameter"),
    "unknown pooling": ((IMAGES, LABELS), lambda X, y: clf(pooling="min").fit(X, y),
                        ValueError, "'pooling' parameter"),
    "unknown global_pool": ((IMAGES, LABELS), lambda X, y: clf(global_pool="sum").fit(X, y),
                            ValueError, "'global_pool' parameter"),
    "unknown lr_schedule": ((IMAGES, LABELS), lambda X, y: clf(lr_schedule="linear").fit(X, y),
                            ValueError, "'lr_schedule' parameter"),
    "unknown channels": ((IMAGES, LABELS), lambda X, y: clf(channels="middle").fit(X, y),
                         ValueError, "'channels' parameter"),
    "unknown class_weight": ((IMAGES, LABELS), lambda X, y: clf(class_weight="equal").fit(X, y),
                             ValueError, "'class_weight' parameter"),
    "negative lr": ((IMAGES, LABELS), lambda X, y: clf(lr=-0.1).fit(X, y),
                    ValueError, "'lr' parameter"),
    "validation_fraction 1": ((IMAGES, LABELS),
                              lambda X, y: clf(validation_fraction=1.0).fit(X, y),
                              ValueError, "'validation_fraction' parameter"),
    "empty conv_filters": ((IMAGES, LABELS), lambda X, y: clf(conv_filters=()).fit(X, y),
                           ValueError, "at least one convolution"),
    "zero filters": ((IMAGES, LABELS), lambda X, y: clf(conv_filters=(4, 0)).fit(X, y),
                     ValueError, "positive integers"),
    "early stopping without validation": (
        (IMAGES, LABELS), lambda X, y: clf(early_stopping=2, validation_fraction=0).fit(X, y),
        ValueError, "needs a validation split"),
    "skorch argument typo": ((IMAGES, LABELS), lambda X, y: clf(optimizer_lr=0.1).fit(X, y),
                             ValueError, "did you mean optimizer__lr"),
    "unusable device": ((IMAGES, LABELS), lambda X, y: clf(device="cuda:99").fit(X, y),
                        ValueError, "device='cuda:99' is not usable here"),
    "device typo": ((IMAGES, LABELS), lambda X, y: clf(device="gpu").fit(X, y),
                    ValueError, "Use device='auto'"),
    "option of another optimizer": (
        (IMAGES, LABELS), lambda X, y: clf(optimizer="sgd", optimizer__muon_lr=0.1).fit(X, y),
        TypeError, "Remove optimizer__muon_lr or choose optimizer='muon'"),
    # --- CNNClassifier: predict
    "predict before fit": ((IMAGES,), lambda X: clf().predict(X), NotFittedError, "not fitted"),
    "predict other size": ((IMAGES[:, :6, :6],), lambda X: fitted().predict(X),
                           ValueError, r"(8, 8, 3), but X has samples of shape (6, 6, 3)"),
    "predict other channels": ((IMAGES[..., :1],), lambda X: fitted().predict(X),
                               ValueError, r"(8, 8, 3), but X has samples of shape (8, 8, 1)"),
    "predict grayscale for RGB": ((IMAGES[..., 0],), lambda X: fitted().predict_proba(X),
                                  ValueError, "(8, 8, 3)"),
    "predict NaN": ((with_value(IMAGES, 3, np.nan),), lambda X: fitted().predict(X),
                    ValueError, "NaN"),
    "predict flat rows": ((ROWS,), lambda X: fitted().predict(X), ValueError, "reshape the rows"),
    "predict complex X": ((IMAGES.astype(complex),), lambda X: fitted().predict(X),
                          ValueError, "X holds complex numbers"),
    "predict beyond float32": ((with_value(IMAGES, 5, 1e39),), lambda X: fitted().predict(X),
                               ValueError, "beyond float32's range"),
    "fit beyond float32": ((with_value(IMAGES, 5, -1e39), LABELS), lambda X, y: clf().fit(X, y),
                           ValueError, "beyond float32's range"),
    # --- transformers
    "reshaper wrong image_shape": ((ROWS,), lambda X: ImageReshaper(image_shape=(9, 9)).fit(X),
                                   ValueError, "image_shape=(8, 8) would fit"),
    "reshaper other width": ((ROWS[:, :63],),
                             lambda X: ImageReshaper(image_shape=(8, 8)).fit(ROWS).transform(X),
                             ValueError, "features"),
    "reshaper before fit": ((ROWS,), lambda X: ImageReshaper().transform(X),
                            NotFittedError, "not fitted"),
    "normalizer channel mismatch": ((IMAGES[..., :1],),
                                    lambda X: ImageNormalizer().fit(IMAGES).transform(X),
                                    ValueError, "3-channel"),
    "normalizer imagenet on gray": ((IMAGES[..., 0],),
                                    lambda X: ImageNormalizer(mean="imagenet").fit(X),
                                    ValueError, "need 3 channels"),
    "normalizer mean length": ((IMAGES,), lambda X: ImageNormalizer(mean=[0.1, 0.2]).fit(X),
                               ValueError, "one per channel"),
    "normalizer negative std": ((IMAGES,), lambda X: ImageNormalizer(std=-1.0).fit(X),
                                ValueError, "std must be positive"),
    "normalizer NaN": ((with_value(IMAGES, 0, np.nan),), lambda X: ImageNormalizer().fit(X),
                       ValueError, "NaN"),
    "normalizer complex X": ((IMAGES.astype(complex),), lambda X: ImageNormalizer().fit(X),
                             ValueError, "ImageNormalizer takes real ones"),
    "augmenter rotation on signals": ((ROWS,), lambda X: ImageAugmenter(rotation=10).fit(X),
                                      ValueError, "need images"),
    "augmenter negative padding": ((IMAGES,), lambda X: ImageAugmenter(crop_padding=-1).fit(X),
                                   ValueError, "'crop_padding' parameter"),
    "augmenter before fit": ((IMAGES,), lambda X: ImageAugmenter().transform(X),
                             NotFittedError, "not fitted"),
    # --- files
    "loader missing file": ((np.array(["/nonexistent/cat.png"]),),
                            lambda X: ImageLoader().fit_transform(X), FileNotFoundError,
                            "/nonexistent/cat.png"),
    "loader corrupt file": ((np.array([__file__]),), lambda X: ImageLoader().fit_transform(X),
                            ValueError, "test_hostile_input.py"),
}


def _digest(arrays):
    digest = hashlib.sha256()
    for array in arrays:
        data = array.toarray() if scipy.sparse.issparse(array) else np.asarray(array)
        digest.update(repr((data.shape, data.dtype)).encode())
        digest.update(data.tobytes() if data.dtype != object else repr(data.tolist()).encode())
    return digest.hexdigest()


def test_the_table_is_large_enough():
    assert len(CASES) >= 30


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_gets_a_clear_error_and_is_not_mutated(case):
    arrays, call, error, pattern = CASES[case]
    before = _digest(arrays)
    with pytest.raises(error) as info:
        call(*arrays)
    message = str(info.value)
    assert pattern.lower() in message.lower(), message
    assert len(message) < 1000, "the message should not print the data"
    assert _digest(arrays) == before, "the caller's data was modified"
