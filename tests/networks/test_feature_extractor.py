"""CNNFeatureExtractor: pooled features of a pretrained backbone, no training, in pipelines."""

import io
import warnings

import joblib
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.utils import estimator_checks
from torchvision.models import get_model

import sk_cnn
from sk_cnn import CNNFeatureExtractor, ImageLoader

RNG = np.random.default_rng(0)
X = RNG.integers(0, 256, (6, 20, 20, 3), dtype=np.uint8)
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


@pytest.fixture(scope="module")
def resnet18_file(tmp_path_factory):
    """A resnet18 state dict file as torchvision writes its weights (random values here)."""
    torch.manual_seed(0)
    model = get_model("resnet18", weights=None)
    path = tmp_path_factory.mktemp("weights") / "resnet18.pth"
    torch.save(model.state_dict(), path)
    return path


def _torchvision_features(path, images, size=224):
    """torchvision's resnet18 with the file's weights and no fc, on resized, normalized images."""
    model = get_model("resnet18", weights=None)
    model.load_state_dict(torch.load(path, weights_only=True))
    model.fc = torch.nn.Identity()
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in (IMAGENET_MEAN, IMAGENET_STD))
    with torch.no_grad():
        return model.eval()((x - mean) / std).numpy()


def test_features_are_the_backbones_pooled_features_and_nothing_trains(resnet18_file):
    extractor = CNNFeatureExtractor("resnet18", weights=resnet18_file, batch_size=4).fit(X)
    state = {k: v.clone() for k, v in extractor.module_.state_dict().items()}
    features = extractor.transform(X)
    assert features.shape == (6, 512) and features.dtype == np.float32
    # Resized to the weights' 224 pixels and normalized with ImageNet's statistics inside.
    np.testing.assert_allclose(features, _torchvision_features(resnet18_file, X),
                               rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(extractor.transform(X), features)  # deterministic
    np.testing.assert_array_equal(extractor.fit_transform(X[:2]), features[:2])
    for key, value in extractor.module_.state_dict().items():  # batch norm statistics too
        assert torch.equal(value, state[key]), key
    names = extractor.get_feature_names_out()
    assert names.tolist() == [f"cnnfeatureextractor{i}" for i in range(512)]


def test_gray_images_are_read_as_the_rgb_images_they_are(resnet18_file):
    gray = X[..., 0]
    rgb = np.repeat(gray[..., np.newaxis], 3, axis=-1)
    extractor = CNNFeatureExtractor("resnet18", weights=resnet18_file, input_size=64)
    np.testing.assert_allclose(extractor.fit_transform(gray),
                               _torchvision_features(resnet18_file, rgb, size=64),
                               rtol=1e-4, atol=1e-4)
    channels_first = CNNFeatureExtractor("resnet18", weights=resnet18_file, input_size=64)
    np.testing.assert_allclose(channels_first.fit_transform(rgb.transpose(0, 3, 1, 2)),
                               extractor.transform(gray), rtol=1e-5, atol=1e-5)


def test_random_weights_are_the_same_at_every_fit_and_leave_torch_rng_alone():
    state = torch.random.get_rng_state()
    first = CNNFeatureExtractor("mobilenet_v3_small", weights=None, input_size=32).fit_transform(X)
    assert torch.equal(torch.random.get_rng_state(), state)
    second = CNNFeatureExtractor("mobilenet_v3_small", weights=None, input_size=32).fit_transform(X)
    np.testing.assert_array_equal(first, second)
    assert first.shape == (6, 1024)


def test_three_line_baseline_on_digit_files_beats_chance(tmp_path):
    digits = load_digits()
    images = (digits.images[:300] * (255 / 16)).astype(np.uint8)
    paths = []
    for i, image in enumerate(images):
        paths.append(tmp_path / f"{i}.png")
        Image.fromarray(image).resize((32, 32), Image.BILINEAR).save(paths[-1])
    train, test, y_train, y_test = train_test_split(
        np.array(paths), digits.target[:300], test_size=0.5, random_state=0)
    pipe = Pipeline([("load", ImageLoader(mode="L")),
                     ("embed", CNNFeatureExtractor("resnet18", weights=None, input_size=32)),
                     ("classify", LogisticRegression(max_iter=2000))])
    accuracy = pipe.fit(train, y_train).score(test, y_test)
    assert accuracy > 0.6  # chance is 0.1; these random features scored 0.93


def test_clone_grid_search_and_pickling():
    y = np.repeat([0, 1], 3)
    pipe = Pipeline([("embed", CNNFeatureExtractor("mobilenet_v3_small", weights=None,
                                                   input_size=32)),
                     ("classify", LogisticRegression())])
    grid = GridSearchCV(pipe, {"classify__C": [0.1, 1.0]}, cv=2, error_score="raise").fit(X, y)
    assert np.isfinite(grid.cv_results_["mean_test_score"]).all()
    fitted = grid.best_estimator_["embed"]
    assert clone(fitted).get_params() == fitted.get_params()
    buffer = io.BytesIO()
    joblib.dump(fitted, buffer)
    buffer.seek(0)
    restored = joblib.load(buffer)
    np.testing.assert_array_equal(restored.transform(X), fitted.transform(X))


def test_pandas_output_names_the_features():
    pd = pytest.importorskip("pandas")
    extractor = CNNFeatureExtractor("mobilenet_v3_small", weights=None, input_size=32)
    frame = extractor.set_output(transform="pandas").fit_transform(X)
    assert isinstance(frame, pd.DataFrame) and frame.columns[0] == "cnnfeatureextractor0"


@pytest.mark.parametrize("params, data, error, message", [
    ({}, RNG.random((4, 64)), ValueError, "needs images"),
    ({"backbone": "resnet9000"}, X, ValueError, "Unknown backbone"),
    ({"backbone": "vit_b_16", "input_size": 100}, X, ValueError, "multiple of its patch size"),
    ({"batch_size": 0}, X, ValueError, "'batch_size' parameter"),
    ({"input_size": (32, 0)}, X, ValueError, "pair \\(height, width\\) of positive ints"),
    ({"channels": "middle"}, X, ValueError, "'channels' parameter"),
])
def test_bad_input_and_parameters_are_refused(params, data, error, message):
    with pytest.raises(error, match=message):
        CNNFeatureExtractor(**{"weights": None, **params}).fit(data)


def test_transform_refuses_other_shapes_and_unfitted_use_and_warns_on_unscaled_floats():
    with pytest.raises(NotFittedError):
        CNNFeatureExtractor(weights=None).transform(X)
    extractor = CNNFeatureExtractor("mobilenet_v3_small", weights=None, input_size=32).fit(X)
    with pytest.raises(ValueError, match="fitted on images of shape"):
        extractor.transform(X[..., :2])
    with pytest.warns(UserWarning, match="floats in \\[0, 1\\]"):
        extractor.transform(X.astype(np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        extractor.transform(X.astype(np.float32) / 255)


@pytest.mark.parametrize("check", [
    estimator_checks.check_no_attributes_set_in_init,
    estimator_checks.check_estimator_cloneable,
    estimator_checks.check_estimator_repr,
    estimator_checks.check_parameters_default_constructible,
    estimator_checks.check_get_params_invariance,
    estimator_checks.check_set_params,
    estimator_checks.check_do_not_raise_errors_in_init_or_set_params,
    estimator_checks.check_valid_tag_types,
    estimator_checks.check_estimator_tags_renamed,
    estimator_checks.check_mixin_order,
    estimator_checks.check_transformers_unfitted,
], ids=lambda check: check.__name__)
def test_scikit_learn_checks_that_need_no_2d_data(check):
    # The others feed 2-D tables, which are no images (input_tags.two_d_array=False).
    check("CNNFeatureExtractor", CNNFeatureExtractor())


def test_lazy_top_level_name():
    assert sk_cnn.CNNFeatureExtractor is sk_cnn.networks.CNNFeatureExtractor
    assert "CNNFeatureExtractor" in sk_cnn.__all__


def test_exports_to_onnx_with_resize_and_normalization_inside(tmp_path):
    onnxruntime = pytest.importorskip("onnxruntime")
    gray = X[..., 0]
    pipe = Pipeline([("embed", CNNFeatureExtractor("squeezenet1_1", weights=None,
                                                   input_size=32))]).fit(gray)
    expected = pipe.transform(gray)
    session = onnxruntime.InferenceSession(str(sk_cnn.export_onnx(pipe, tmp_path / "m.onnx")))
    assert session.get_outputs()[0].name == "features"
    assert session.get_modelmeta().custom_metadata_map["n_features"] == "512"
    np.testing.assert_allclose(session.run(None, {"X": gray})[0], expected, atol=1e-5)
    # export_program writes the same module (sk_cnn.io._serving), tested there.
