"""sk_cnn.save and sk_cnn.load: the pickle-free file round-trips pipelines and refuses what it
cannot store."""

import os
import warnings

import joblib
import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from sklearn.decomposition import PCA
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, MinMaxScaler, StandardScaler

import sk_cnn
from sk_cnn import (
    CNNClassifier,
    CNNRegressor,
    ImageAugmenter,
    ImageNormalizer,
    ImageReshaper,
)


def test_pipeline_round_trip_gives_identical_predictions(tmp_path, digits_split):
    X_train, X_test, y_train, _ = digits_split
    labels = np.array(list("abcdefghij"))[y_train]
    pipe = Pipeline([
        ("scale", MinMaxScaler()), ("reshape", ImageReshaper(image_shape=(8, 8))),
        ("norm", ImageNormalizer()), ("aug", ImageAugmenter(horizontal_flip=False, crop_padding=1)),
        ("cnn", CNNClassifier(max_epochs=2, verbose=0, random_state=0, class_weight="balanced",
                              optimizer__weight_decay=1e-4)),
    ]).fit(X_train, labels)
    path = sk_cnn.save(pipe, tmp_path / "model.safetensors")
    loaded = sk_cnn.load(path)
    np.testing.assert_array_equal(loaded.predict_proba(X_test), pipe.predict_proba(X_test))
    np.testing.assert_array_equal(loaded.predict(X_test), pipe.predict(X_test))
    assert loaded[-1].history[-1, "valid_acc"] == pipe[-1].history[-1, "valid_acc"]
    assert loaded.get_params()["cnn__optimizer__weight_decay"] == 1e-4
    np.testing.assert_array_equal(loaded["norm"].mean_, pipe["norm"].mean_)


@pytest.mark.parametrize("make", [
    lambda: ImageReshaper(image_shape=(8, 8)), lambda: ImageNormalizer(mean="imagenet"),
    lambda: ImageAugmenter(brightness=0.1, random_state=3), lambda: StandardScaler(),
    lambda: PCA(n_components=5)])
def test_each_transformer_round_trips(tmp_path, make):
    rng = np.random.default_rng(0)
    is_images = isinstance(make(), ImageNormalizer)
    X = rng.random((20, 5, 5, 3) if is_images else (20, 64)).astype(np.float32)
    transformer = make().fit(X)
    loaded = sk_cnn.load(sk_cnn.save(transformer, tmp_path / "t.safetensors"))
    assert type(loaded) is type(transformer)
    assert loaded.get_params() == transformer.get_params()
    np.testing.assert_array_equal(loaded.transform(X), transformer.transform(X))


def test_classifier_alone_with_integer_labels(tmp_path, tiny_images, tiny_classifier):
    X, y = tiny_images
    clf = tiny_classifier(lr_schedule="onecycle").fit(X, y + 10)
    loaded = sk_cnn.load(sk_cnn.save(clf, tmp_path / "clf.safetensors"))
    np.testing.assert_array_equal(loaded.classes_, [10, 11])
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    assert loaded.input_dtype_ == np.uint8  # export_onnx/export_program read it


def test_unsupported_steps_get_a_clear_error(tmp_path, tiny_images, tiny_classifier):
    X, y = tiny_images
    pipe = Pipeline([("f", FunctionTransformer(np.sqrt)), ("cnn", tiny_classifier())]).fit(X, y)
    with pytest.raises(TypeError, match="FunctionTransformer cannot be saved without pickle"):
        sk_cnn.save(pipe, tmp_path / "m.safetensors")
    with pytest.raises(TypeError, match="callbacks"):
        sk_cnn.save(tiny_classifier(callbacks=[]).fit(X, y), tmp_path / "m.safetensors")


def test_tampered_and_foreign_files_are_refused(tmp_path, tiny_images, tiny_classifier):
    X, y = tiny_images
    path = sk_cnn.save(tiny_classifier().fit(X, y), tmp_path / "m.safetensors")
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF  # flip bits of the last weight
    (tmp_path / "tampered.safetensors").write_bytes(bytes(data))
    with pytest.raises(ValueError, match="is damaged: its content does not match the digest"):
        sk_cnn.load(tmp_path / "tampered.safetensors")

    joblib.dump({"a": 1}, tmp_path / "pickle.joblib")
    with pytest.raises(ValueError, match="not an sk_cnn model file"):
        sk_cnn.load(tmp_path / "pickle.joblib")
    import torch
    save_file({"w": torch.zeros(2)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(ValueError, match="not one written by sk_cnn.save"):
        sk_cnn.load(tmp_path / "other.safetensors")


def test_files_of_another_version_get_a_clear_error(tmp_path, tiny_images, tiny_classifier,
                                                    rewrite_model_file):
    X, y = tiny_images
    pipe = Pipeline([("norm", ImageNormalizer()), ("cnn", tiny_classifier())]).fit(X, y)
    path = sk_cnn.save(pipe, tmp_path / "m.safetensors")

    def rename_step_class(config):
        config["pipeline"][0][1]["estimator"] = "FutureTransformer"

    def add_parameter(config):
        config["pipeline"][1][1]["params"]["dict"]["future_option"] = 1

    for edit in (rename_step_class, add_parameter):
        with pytest.raises(ValueError, match=r"written by sk_cnn 9\.9\.0; this sk_cnn"):
            sk_cnn.load(rewrite_model_file(path, tmp_path / "new.safetensors", edit,
                                           version="9.9.0"))
    with pytest.raises(FileNotFoundError, match="No sk_cnn model file"):
        sk_cnn.load(tmp_path / "missing.safetensors")


def test_class_weight_dict_and_feature_names_round_trip(tmp_path, tiny_classifier):
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.random((24, 16)), columns=[f"px{i}" for i in range(16)])
    y = np.repeat([0, 1], 12)
    clf = tiny_classifier(class_weight={0: 1.0, 1: 3.0}, device=torch.device("cpu")).fit(X, y)
    loaded = sk_cnn.load(sk_cnn.save(clf, tmp_path / "clf.safetensors"))
    assert loaded.class_weight == {0: 1.0, 1: 3.0}
    assert loaded.get_params()["device"] == torch.device("cpu")
    np.testing.assert_array_equal(loaded.feature_names_in_, X.columns)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "X has feature names, but ..." warning
        np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    with pytest.raises(ValueError, match="feature names"):
        loaded.predict(X[X.columns[::-1]])


def test_loaded_model_trained_from_a_weights_file_continues_without_warning(
        tmp_path, tiny_images, tiny_classifier):
    X, y = tiny_images
    weights = sk_cnn.save_weights(tiny_classifier().fit(X, y), tmp_path / "w.pt")
    clf = tiny_classifier(weights=weights).fit(X, y)
    loaded = sk_cnn.load(sk_cnn.save(clf, tmp_path / "clf.safetensors"))
    assert loaded.weights == weights
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. "weights=... changed since fit built ..."
        loaded.partial_fit(X, y)


@pytest.mark.parametrize("optimizer, params", [
    ("adam", {}), ("sgd", {}), ("muon", {}),
    # 8 steps per call: lookahead averages after the 5th (with fewer, partial_fit's result
    # would be the average of the weights it started from, whatever the optimizer state).
    ("adam", {"lr_schedule": "cosine", "weight_averaging": "lookahead", "max_epochs": 2})])
def test_loaded_model_continues_training_as_the_saved_one(tmp_path, tiny_images,
                                                          tiny_classifier, optimizer, params):
    X, y = tiny_images
    clf = tiny_classifier(optimizer=optimizer, **{"max_epochs": 1, **params}).fit(X, y)
    loaded = sk_cnn.load(sk_cnn.save(clf, tmp_path / "clf.safetensors"))
    unpickled = joblib.load(joblib.dump(clf, tmp_path / "clf.joblib")[0])
    expected = clf.partial_fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(unpickled.partial_fit(X, y).predict_proba(X), expected)
    np.testing.assert_array_equal(loaded.partial_fit(X, y).predict_proba(X), expected)


def test_save_without_the_optimizer_state(tmp_path, tiny_images, tiny_classifier):
    X, y = tiny_images
    clf = tiny_classifier(max_epochs=1).fit(X, y)
    full = sk_cnn.save(clf, tmp_path / "full.safetensors")
    small = sk_cnn.save(clf, tmp_path / "small.safetensors", include_optimizer=False)
    assert os.path.getsize(small) < 0.5 * os.path.getsize(full)  # Adam: 2 moments per weight
    loaded = sk_cnn.load(small)
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    assert loaded.optimizer_.state_dict()["state"] == {}
    assert len(sk_cnn.load(full).optimizer_.state_dict()["state"]) == len(
        clf.optimizer_.state_dict()["state"])


def test_alternating_flips_go_on_after_load(tmp_path, tiny_images, tiny_classifier):
    X, y = tiny_images
    pipe = Pipeline([("aug", ImageAugmenter(horizontal_flip="alternate", random_state=0)),
                     ("cnn", tiny_classifier(max_epochs=1, warm_start=True))]).fit(X, y)
    loaded = sk_cnn.load(sk_cnn.save(pipe, tmp_path / "pipe.safetensors"))
    torch.testing.assert_close(loaded[-1]._first_epoch_flips, pipe[-1]._first_epoch_flips)
    expected = pipe.fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(loaded.fit(X, y).predict_proba(X), expected)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the fallback without CUDA")
def test_model_saved_on_a_gpu_loads_on_the_cpu(tmp_path, tiny_images, tiny_classifier):
    from skorch.exceptions import DeviceWarning
    X, y = tiny_images
    clf = tiny_classifier(max_epochs=1).fit(X, y)
    proba = clf.predict_proba(X)
    # The parameter a fit on a GPU leaves (set_params refuses a device unusable here).
    clf.device = "cuda"
    path = sk_cnn.save(clf, tmp_path / "gpu.safetensors")
    with pytest.warns(DeviceWarning, match="loaded with device='cpu'"):
        loaded = sk_cnn.load(path)
    assert loaded.get_params()["device"] == "cpu"
    np.testing.assert_array_equal(loaded.predict_proba(X), proba)


def test_load_leaves_the_global_random_generator_alone(tmp_path, tiny_images, tiny_classifier):
    X, y = tiny_images
    path = sk_cnn.save(tiny_classifier(max_epochs=1).fit(X, y), tmp_path / "m.safetensors")
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    sk_cnn.load(path)  # builds the network (random weights, then the saved ones)
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize("left_out", ["passthrough", None])
def test_pipeline_steps_left_out_round_trip(tmp_path, tiny_images, tiny_classifier, left_out):
    X, y = tiny_images
    pipe = Pipeline([("norm", ImageNormalizer()), ("aug", left_out),
                     ("cnn", tiny_classifier(max_epochs=1))]).fit(X, y)
    loaded = sk_cnn.load(sk_cnn.save(pipe, tmp_path / "pipe.safetensors"))
    assert loaded.steps[1] == ("aug", left_out)
    np.testing.assert_array_equal(loaded.predict_proba(X), pipe.predict_proba(X))


@pytest.mark.parametrize("what", [None, "passthrough"])
def test_nothing_to_save_is_refused(tmp_path, what):
    with pytest.raises(TypeError, match="cannot be saved"):
        sk_cnn.save(what, tmp_path / "m.safetensors")




def test_signal_pipeline_survives_the_pickle_free_save(tmp_path, two_frequency_signals):
    import sk_cnn

    X, y = two_frequency_signals(n=48, length=32)
    X_last = np.ascontiguousarray(X.transpose(0, 2, 1))  # (N, L, C)
    pipe = Pipeline([
        ("norm", ImageNormalizer(channels="last", input_type="signal")),
        ("aug", ImageAugmenter(horizontal_flip=False, noise=0.1, scaling=0.1)),
        ("cnn", CNNRegressor(conv_filters=(4,), max_epochs=1, channels="last",
                             input_type="signal", verbose=0, random_state=0)),
    ]).fit(X_last, y.astype(float))
    loaded = sk_cnn.load(sk_cnn.save(pipe, tmp_path / "signals.safetensors"))
    np.testing.assert_allclose(loaded.predict(X_last), pipe.predict(X_last), rtol=1e-6)
    assert loaded["cnn"].layout_ == "last" and loaded["aug"].noise == 0.1

