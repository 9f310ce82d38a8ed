"""export_onnx and export_program: raw samples in, predict_proba's probabilities out (a
regressor's predictions)."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from sk_cnn import (
    CNNClassifier,
    CNNRegressor,
    ImageAugmenter,
    ImageNormalizer,
    ImageReshaper,
    export_onnx,
    export_program,
)

ATOL = 1e-4
BATCHES = (1, 37)


def _colour_images(n=64, layout="last"):
    """uint8 RGB images (N, H, W, C) of two classes named by strings; class "b" is bright on top."""
    rng = np.random.default_rng(0)
    y = np.repeat(["a", "b"], n // 2)
    X = rng.integers(0, 60, size=(n, 12, 12, 3)).astype(np.uint8)
    X[y == "b", :6] += 150
    return (X if layout == "last" else np.ascontiguousarray(X.transpose(0, 3, 1, 2))), y


def _small_cnn(**params):
    return CNNClassifier(**{"conv_filters": (4, 8), "max_epochs": 2, "batch_size": 32,
                            "verbose": 0, "random_state": 0, **params})


@pytest.fixture(scope="module")
def digits_model(digits_split):
    """The README's digits pipeline (flat float64 rows in), shortened; and test rows."""
    X_train, X_test, y_train, _ = digits_split
    X_train, y_train = X_train[:500], y_train[:500]  # enough for a non-trivial network
    pipe = Pipeline([
        ("reshape", ImageReshaper(image_shape=(8, 8))),
        ("norm", ImageNormalizer()),
        ("aug", ImageAugmenter(horizontal_flip=False, crop_padding=1)),
        ("cnn", _small_cnn(conv_filters=(8, 16))),
    ]).fit(X_train, y_train)
    return pipe, X_test


@pytest.fixture(scope="module")
def colour_model():
    """uint8 (N, H, W, C) images with string labels: ImageNormalizer + CNNClassifier."""
    X, y = _colour_images()
    return Pipeline([("norm", ImageNormalizer()), ("cnn", _small_cnn())]).fit(X, y), X


@pytest.fixture(params=["digits", "colour"])
def model(request):
    return request.getfixturevalue(f"{request.param}_model")


def test_onnx_matches_predict_proba_with_labels_in_metadata(model, tmp_path):
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    pipe, X = model
    path = export_onnx(pipe, tmp_path / "model.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (inp,), (out,) = session.get_inputs(), session.get_outputs()
    assert (inp.name, out.name) == ("X", "probabilities")
    assert inp.shape[1:] == list(X.shape[1:])  # raw layout: (N, 64) rows or (N, H, W, C) images
    assert inp.type == {"float64": "tensor(double)", "uint8": "tensor(uint8)"}[X.dtype.name]
    assert isinstance(inp.shape[0], str)  # dynamic batch
    for n in BATCHES:
        proba = session.run(None, {"X": X[:n]})[0]
        assert proba.shape == (n, len(pipe.classes_))
        np.testing.assert_allclose(proba, pipe.predict_proba(X[:n]), rtol=0, atol=ATOL)
    metadata = session.get_modelmeta().custom_metadata_map
    assert json.loads(metadata["classes"]) == pipe.classes_.tolist()
    assert metadata["input_dtype"] == X.dtype.name
    assert not any(node.op_type.startswith("Random") for node in onnx.load(path).graph.node)


def test_program_in_fresh_process_without_sk_cnn_matches(digits_model, colour_model, tmp_path):
    for name, (pipe, X) in (("digits", digits_model), ("colour", colour_model)):
        export_program(pipe, tmp_path / f"{name}.pt2")
        np.save(tmp_path / f"{name}_X.npy", X[:max(BATCHES)])
    # The child refuses any import of sk_cnn, so loading cannot depend on it.
    script = textwrap.dedent(f"""
        import importlib.abc, json, sys
        class Refuse(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] == "sk_cnn":
                    raise ImportError("sk_cnn must not be imported")
        sys.meta_path.insert(0, Refuse())
        import numpy as np, torch
        for name in ("digits", "colour"):
            extra = {{"metadata.json": ""}}
            program = torch.export.load(f"{{name}}.pt2", extra_files=extra).module()
            X = np.load(f"{{name}}_X.npy")
            for n in {BATCHES!r}:
                np.save(f"{{name}}_{{n}}.npy", program(torch.from_numpy(X[:n])).numpy())
            with open(f"{{name}}_classes.json", "w") as f:
                f.write(json.dumps(json.loads(extra["metadata.json"])["classes"]))
        print("sk_cnn" in sys.modules)
    """)
    done = subprocess.run([sys.executable, "-I", "-c", script], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "False"
    for name, (pipe, X) in (("digits", digits_model), ("colour", colour_model)):
        for n in BATCHES:
            proba = np.load(tmp_path / f"{name}_{n}.npy")
            np.testing.assert_allclose(proba, pipe.predict_proba(X[:n]), rtol=0, atol=ATOL)
        classes = json.loads((tmp_path / f"{name}_classes.json").read_text())
        assert classes == pipe.classes_.tolist()


@pytest.mark.parametrize("layout", ["first", "last"])
def test_program_normalizes_either_channel_layout(layout, tmp_path):
    X, y = _colour_images(layout=layout)
    pipe = Pipeline([("norm", ImageNormalizer(mean=(0.1, 0.2, 0.3), std=(0.3, 0.2, 0.1))),
                     ("cnn", _small_cnn(max_epochs=1))]).fit(X, y)
    program = torch.export.load(export_program(pipe, tmp_path / "m.pt2")).module()
    for n in BATCHES:
        np.testing.assert_allclose(program(torch.from_numpy(X[:n])).numpy(),
                                   pipe.predict_proba(X[:n]), rtol=0, atol=ATOL)


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_exported_normalization_equals_transform_bit_for_bit(dtype):
    from sk_cnn.io._serving import _Normalize

    X, _ = _colour_images()
    norm = ImageNormalizer(dtype=dtype).fit(X)
    layer = _Normalize(norm.mean_, norm.std_, X.ndim, norm.layout_, scale=True, dtype=dtype)
    np.testing.assert_array_equal(layer(torch.from_numpy(X)).numpy(),
                                  norm.transform(X).astype(np.float32))


def test_program_of_float16_normalized_pipeline_matches(tmp_path):
    X, y = _colour_images()
    pipe = Pipeline([("norm", ImageNormalizer(dtype="float16")),
                     ("cnn", _small_cnn(max_epochs=1))]).fit(X, y)
    program = torch.export.load(export_program(pipe, tmp_path / "m.pt2")).module()
    np.testing.assert_allclose(program(torch.from_numpy(X[:9])).numpy(),
                               pipe.predict_proba(X[:9]), rtol=0, atol=ATOL)


def test_program_of_nested_pipeline_with_passthrough(tmp_path):
    X, y = _colour_images()
    pipe = Pipeline([("prep", Pipeline([("skip", "passthrough"), ("norm", ImageNormalizer())])),
                     ("aug", ImageAugmenter()), ("cnn", _small_cnn(max_epochs=1))]).fit(X, y)
    program = torch.export.load(export_program(pipe, tmp_path / "m.pt2")).module()
    np.testing.assert_allclose(program(torch.from_numpy(X[:5])).numpy(),
                               pipe.predict_proba(X[:5]), rtol=0, atol=ATOL)


def test_program_of_a_bare_classifier_on_signals(tmp_path):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(60, 20)).astype(np.float32)
    y = np.repeat([3, 7, 9], 20)
    X[y == 7, :10] += 2
    clf = _small_cnn(max_epochs=1).fit(X, y)  # (N, F) rows: Conv1d on one-channel signals
    extra = {"metadata.json": ""}
    program = torch.export.load(export_program(clf, tmp_path / "m.pt2"), extra_files=extra)
    assert json.loads(extra["metadata.json"])["classes"] == [3, 7, 9]
    for n in BATCHES:
        np.testing.assert_allclose(program.module()(torch.from_numpy(X[:n])).numpy(),
                                   clf.predict_proba(X[:n]), rtol=0, atol=ATOL)


@pytest.mark.parametrize("layout", ["first", "last"])
def test_program_of_multichannel_signals(layout, tmp_path):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(60, 3, 24)).astype(np.float32)  # (N, C, L)
    y = np.repeat([0, 1], 30)
    X[y == 1, 1] += 1.5
    X[:, 2] += 4  # a channel with its own offset: per-channel statistics matter
    if layout == "last":
        X = np.ascontiguousarray(X.transpose(0, 2, 1))  # (N, L, C)
    pipe = Pipeline([("norm", ImageNormalizer(channels=layout, input_type="signal")),
                     ("cnn", _small_cnn(max_epochs=1, channels=layout, input_type="signal"))])
    pipe.fit(X, y)
    assert pipe["norm"].mean_.shape == (3,)
    program = torch.export.load(export_program(pipe, tmp_path / "m.pt2")).module()
    for n in BATCHES:
        np.testing.assert_allclose(program(torch.from_numpy(X[:n])).numpy(),
                                   pipe.predict_proba(X[:n]), rtol=0, atol=ATOL)


def _exporter(name):
    if name == "onnx":
        pytest.importorskip("onnx")
        pytest.importorskip("onnxscript")
        return export_onnx
    return export_program


@pytest.mark.parametrize("exporter", ["onnx", "program"])
def test_unsupported_step_is_named(exporter, tmp_path):
    export = _exporter(exporter)
    X = np.random.default_rng(0).random((40, 64))
    pipe = Pipeline([("pca", PCA(n_components=16)), ("cnn", _small_cnn(max_epochs=1))])
    pipe.fit(X, np.repeat([0, 1], 20))
    with pytest.raises(ValueError, match=r"Step 'pca' \(PCA\) cannot be exported"):
        export(pipe, tmp_path / "m")
    nested = Pipeline([("prep", Pipeline([("reshape", ImageReshaper()), ("pca", PCA())])),
                       ("cnn", CNNClassifier())])
    with pytest.raises(ValueError, match=r"Step 'prep__pca' \(PCA\)"):
        export(nested, tmp_path / "m")
    with pytest.raises(ValueError, match=r"last step .*'clf' \(LogisticRegression\)"):
        export(Pipeline([("norm", ImageNormalizer()), ("clf", LogisticRegression())]),
               tmp_path / "m")
    with pytest.raises(TypeError, match="got LogisticRegression"):
        export(LogisticRegression(), tmp_path / "m")
    assert not (tmp_path / "m").exists()


def test_unfitted_pipeline_is_refused(tmp_path):
    with pytest.raises(NotFittedError):
        export_program(Pipeline([("norm", ImageNormalizer()), ("cnn", CNNClassifier())]),
                       tmp_path / "m.pt2")


def test_input_dtype_sets_what_the_exported_model_takes(colour_model, tmp_path):
    # Fitted on uint8 images, exported for float32 pixels in [0, 1]: the model does not scale
    # them again, as the pipeline does not.
    pipe, X = colour_model
    pixels = X[:5].astype(np.float32) / 255
    program = torch.export.load(export_program(pipe, tmp_path / "m.pt2",
                                               input_dtype=np.float32))
    np.testing.assert_allclose(program.module()(torch.from_numpy(pixels)).numpy(),
                               pipe.predict_proba(pixels), rtol=0, atol=ATOL)


@pytest.mark.parametrize("missing", ["onnx", "onnxscript"])
def test_missing_extra_names_it(missing, colour_model, tmp_path, monkeypatch):
    if missing == "onnxscript":
        pytest.importorskip("onnx")  # else the error names onnx, which is checked first
    monkeypatch.setitem(sys.modules, missing, None)  # makes "import <missing>" fail
    with pytest.raises(ImportError, match=rf"{missing} is missing.*pip install 'sk_cnn\[onnx\]'"):
        export_onnx(colour_model[0], tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


class _DataDependent(torch.nn.Module):
    """A network whose output depends on a Python branch on the data: not exportable."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(3 * 12 * 12, 2)

    def forward(self, x):
        out = self.linear(x.flatten(1))
        return out if out.sum() > 0 else -out


@pytest.mark.parametrize("exporter", ["onnx", "program"])
def test_untraceable_custom_network_gets_a_short_error(exporter, tmp_path):
    export = _exporter(exporter)
    X, y = _colour_images()
    clf = _small_cnn(module=_DataDependent, max_epochs=1).fit(X, y)
    with pytest.raises(RuntimeError, match="could not export the network .*data-dependent") as info:
        export(clf, tmp_path / "m")
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert "\x1b" not in str(info.value)
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("exporter", ["program", "onnx"])
def test_flip_test_time_augmentation_is_exported(exporter, tmp_path):
    X, y = _colour_images()
    pipe = Pipeline([("norm", ImageNormalizer()), ("cnn", _small_cnn(tta="flip"))]).fit(X, y)
    expected = pipe.predict_proba(X)
    if exporter == "program":
        program = torch.export.load(export_program(pipe, tmp_path / "m.pt2")).module()
        got = program(torch.from_numpy(X)).numpy()
    else:
        onnxruntime = pytest.importorskip("onnxruntime")
        session = onnxruntime.InferenceSession(str(export_onnx(pipe, tmp_path / "m.onnx")))
        got = session.run(None, {"X": X})[0]
    np.testing.assert_allclose(got, expected, rtol=0, atol=ATOL)
    pipe[-1].set_params(tta=None)
    assert not np.allclose(pipe.predict_proba(X), expected, atol=ATOL)


@pytest.mark.parametrize("exporter", ["program", "onnx"])
@pytest.mark.parametrize("input_type", ["image", "signal"])
def test_even_kernel_same_padding_is_exported(exporter, input_type, tmp_path):
    """Even kernels pad unevenly ("same"), through a padding layer of their own."""
    X, y = _colour_images()
    if input_type == "signal":
        X = X[:, :, 0, 0].astype(np.float32)  # (N, 12) rows: Conv1d on one-channel signals
    # Strided convolutions (pooling=None) and 2x2 kernels on odd and even feature map sizes.
    clf = _small_cnn(max_epochs=1, kernel_size=2, pooling=None, conv_filters=(4, 8, 8)).fit(X, y)
    assert isinstance(clf.module_.features.block1.pad,
                      torch.nn.ZeroPad2d if input_type == "image" else torch.nn.ZeroPad1d)
    path = _exporter(exporter)(clf, tmp_path / "m")
    if exporter == "program":
        got = torch.export.load(path).module()(torch.from_numpy(X)).numpy()
    else:
        onnxruntime = pytest.importorskip("onnxruntime")
        got = onnxruntime.InferenceSession(str(path)).run(None, {"X": X})[0]
    np.testing.assert_allclose(got, clf.predict_proba(X), rtol=0, atol=ATOL)


@pytest.mark.parametrize("n_outputs", [1, 2])
@pytest.mark.parametrize("exporter", ["onnx", "program"])
def test_regressor_exports_predict_with_its_target_scaling(exporter, n_outputs, tmp_path):
    X, _ = _colour_images()
    # Targets far from mean 0 and scale 1, so that a scaling left out of the export shows.
    y = X.mean(axis=(1, 2, 3)) * 10.0 + 500.0
    if n_outputs == 2:
        y = np.column_stack([y, -3 * y])
    pipe = Pipeline([("norm", ImageNormalizer()),
                     ("reg", CNNRegressor(conv_filters=(4, 8), max_epochs=2, batch_size=32,
                                          verbose=0, random_state=0))]).fit(X, y)
    path = _exporter(exporter)(pipe, tmp_path / f"model.{exporter}")
    for n in BATCHES:
        expected = pipe.predict(X[:n])
        if exporter == "onnx":
            ort = pytest.importorskip("onnxruntime")
            session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            assert session.get_outputs()[0].name == "predictions"
            meta = session.get_modelmeta().custom_metadata_map
            assert json.loads(meta["n_outputs"]) == n_outputs and "classes" not in meta
            got = session.run(None, {"X": X[:n]})[0]
        else:
            got = torch.export.load(path).module()(torch.from_numpy(X[:n])).numpy()
        assert got.shape == expected.shape
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-3)
