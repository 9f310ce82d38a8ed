"""ImageNormalizer: per-channel statistics, exact and fast."""

import joblib
import numpy as np
import pytest
from sklearn.pipeline import Pipeline

from sk_cnn import CNNClassifier, ImageNormalizer

RNG = np.random.default_rng(0)


def test_normalizer_learns_per_channel_statistics_on_uint8_scale():
    X = RNG.integers(0, 256, (50, 6, 6, 3), dtype=np.uint8)
    norm = ImageNormalizer().fit(X)
    scaled = X.astype(np.float64) / 255
    np.testing.assert_allclose(norm.mean_, scaled.mean(axis=(0, 1, 2)), rtol=1e-10)
    np.testing.assert_allclose(norm.std_, scaled.std(axis=(0, 1, 2)), rtol=1e-8)
    Xt = norm.transform(X)
    assert Xt.dtype == np.float32 and Xt.shape == X.shape
    np.testing.assert_allclose(Xt.mean(axis=(0, 1, 2)), 0, atol=1e-5)
    np.testing.assert_allclose(Xt.std(axis=(0, 1, 2)), 1, atol=1e-4)
    np.testing.assert_allclose(norm.inverse_transform(Xt), scaled, atol=1e-6)


@pytest.mark.parametrize("layout", ["last", "first", "gray"])
@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_normalizer_uint8_lookup_gives_the_arithmetic_values(layout, dtype):
    # 5000 images: several chunks of the statistics and of the transform.
    X = RNG.integers(0, 256, (5000, 6, 5, 3), dtype=np.uint8)
    channel_axis = {"last": 3, "first": 1, "gray": None}[layout]
    if layout == "first":
        X = np.ascontiguousarray(X.transpose(0, 3, 1, 2))
    elif layout == "gray":
        X = X[..., 0]
    norm = ImageNormalizer(dtype=dtype).fit(X)
    axes = tuple(a for a in range(X.ndim) if a != channel_axis)
    scaled = X.astype(np.float64) / 255
    np.testing.assert_allclose(norm.mean_, scaled.mean(axis=axes), rtol=1e-12)
    np.testing.assert_allclose(norm.std_, scaled.std(axis=axes), rtol=1e-10)
    shape = [1] * X.ndim
    if channel_axis is not None:
        shape[channel_axis] = -1
    mean = norm.mean_.astype(np.float32).reshape(shape)
    std = norm.std_.astype(np.float32).reshape(shape)
    expected = ((X.astype(np.float32) * np.float32(1 / 255) - mean) / std).astype(dtype)
    np.testing.assert_array_equal(norm.transform(X), expected)


def test_normalizer_float16_output_halves_memory_within_rounding():
    X = RNG.integers(0, 256, (40, 6, 6, 3), dtype=np.uint8)
    full = ImageNormalizer().fit(X)
    half = ImageNormalizer(dtype="float16").fit(X)
    X32, X16 = full.transform(X), half.transform(X)
    assert X16.dtype == np.float16 and X16.shape == X.shape
    assert X16.nbytes * 2 == X32.nbytes
    # float16 keeps 11 significant bits: within 2**-11 of the float32 value, relatively
    np.testing.assert_allclose(X16.astype(np.float32), X32, rtol=2.0**-11, atol=0)
    assert not np.array_equal(X16.astype(np.float32), X32)  # it did round
    back = half.inverse_transform(X16)
    assert back.dtype == np.float32
    np.testing.assert_allclose(back * 255, X, atol=0.2)  # still the same uint8 pixels
    with pytest.raises(ValueError, match="dtype"):
        ImageNormalizer(dtype="int8").fit(X)


def test_classifier_trains_on_float16_normalized_images():
    X = RNG.integers(0, 256, (64, 8, 8, 1), dtype=np.uint8)
    y = (X[:, :4].mean(axis=(1, 2, 3)) > X[:, 4:].mean(axis=(1, 2, 3))).astype(int)
    params = {"conv_filters": (4,), "max_epochs": 2, "batch_size": 16, "random_state": 0,
              "verbose": 0}
    half = Pipeline([("norm", ImageNormalizer(dtype="float16")),
                     ("cnn", CNNClassifier(**params))]).fit(X, y)
    X16 = half["norm"].transform(X)
    # The classifier casts each float16 batch to float32: same as giving it float32 values.
    np.testing.assert_allclose(half["cnn"].predict_proba(X16),
                               half["cnn"].predict_proba(X16.astype(np.float32)), atol=1e-6)


def test_normalizer_channels_first_and_grayscale():
    X = RNG.random((20, 2, 5, 5)) * [[[[1.0]], [[10.0]]]]
    norm = ImageNormalizer(channels="first").fit(X)
    np.testing.assert_allclose(norm.mean_, X.mean(axis=(0, 2, 3)))
    gray = RNG.random((20, 5, 5))
    assert ImageNormalizer().fit(gray).mean_.shape == (1,)


def test_normalizer_given_and_imagenet_statistics():
    X = RNG.integers(0, 256, (4, 5, 5, 3), dtype=np.uint8)
    norm = ImageNormalizer(mean="imagenet").fit(X)
    np.testing.assert_allclose(norm.mean_, [0.485, 0.456, 0.406])
    np.testing.assert_allclose(norm.std_, [0.229, 0.224, 0.225])
    given = ImageNormalizer(mean=0.5, std=[0.1, 0.2, 0.3]).fit(X)
    np.testing.assert_allclose(given.mean_, [0.5] * 3)
    with pytest.raises(ValueError, match="3 channels"):
        ImageNormalizer(mean="imagenet").fit(X[..., 0])
    with pytest.raises(ValueError, match="one per channel"):
        ImageNormalizer(mean=[0.1, 0.2]).fit(X)
    for params, message in [(dict(mean=np.nan), "mean must be finite"),
                            (dict(std=[1.0, np.inf, 1.0]), "std must be finite"),
                            (dict(std=0.0), "std must be positive"),
                            (dict(mean="imagenet", std=[0.2, 0.0, 0.2]), "std must be positive")]:
        with pytest.raises(ValueError, match=message):
            ImageNormalizer(**params).fit(X)


@pytest.mark.parametrize("offset, spread", [(300.0, 1e-5), (1e8, 1.0), (0.0, 1.0)])
def test_normalizer_statistics_are_accurate_far_from_zero(offset, spread):
    # The mean of squares minus the squared mean cancels away at such offsets unless the
    # values are shifted first (it gave std 9.3e-6 for 1e-5 at offset 300).
    X = offset + spread * RNG.standard_normal((50, 6, 6, 2))
    norm = ImageNormalizer(channels="last").fit(X)
    np.testing.assert_allclose(norm.mean_, X.mean(axis=(0, 1, 2)), rtol=1e-12)
    np.testing.assert_allclose(norm.std_, X.std(axis=(0, 1, 2)), rtol=1e-6)


def test_normalizer_uint8_statistics_are_exact_near_the_top_of_the_range():
    # uint8 skips the shift that float input needs: its float64 sums are exact.
    X = RNG.integers(254, 256, (64, 8, 8, 3)).astype(np.uint8)
    norm = ImageNormalizer().fit(X)
    scaled = X.astype(np.float64) / 255
    np.testing.assert_allclose(norm.mean_, scaled.mean(axis=(0, 1, 2)), rtol=1e-12)
    np.testing.assert_allclose(norm.std_, scaled.std(axis=(0, 1, 2)), rtol=1e-9)


def test_normalizer_constant_channel_gets_unit_std():
    X = np.zeros((4, 5, 5, 3), dtype=np.float32)
    X[..., 0] = 1.0
    norm = ImageNormalizer().fit(X)
    np.testing.assert_allclose(norm.std_, 1.0)
    assert np.isfinite(norm.transform(X)).all()


def test_normalizer_channel_mismatch():
    norm = ImageNormalizer().fit(RNG.random((4, 5, 5, 3)))
    with pytest.raises(ValueError, match="3-channel"):
        norm.transform(RNG.random((4, 5, 5, 1)))


def test_normalizer_statistics_travel_with_the_pickle(tmp_path):
    X = RNG.integers(0, 256, (10, 5, 5, 3), dtype=np.uint8)
    norm = ImageNormalizer().fit(X)
    joblib.dump(norm, tmp_path / "norm.joblib")
    loaded = joblib.load(tmp_path / "norm.joblib")
    np.testing.assert_array_equal(loaded.mean_, norm.mean_)
    np.testing.assert_array_equal(loaded.transform(X), norm.transform(X))




def test_normalizer_learns_per_channel_signal_statistics(two_frequency_signals):
    X, _ = two_frequency_signals(n=50)
    norm = ImageNormalizer(input_type="signal").fit(X)
    np.testing.assert_allclose(norm.mean_, X.mean(axis=(0, 2)), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(norm.std_, X.std(axis=(0, 2)), rtol=1e-4)
    Xt = norm.transform(X)
    np.testing.assert_allclose(Xt.mean(axis=(0, 2)), 0, atol=1e-4)
    # The same data read as 3-D grayscale images would have one channel.
    assert ImageNormalizer().fit(X).mean_.shape == (1,)

