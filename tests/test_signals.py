"""1-D signals: (N, L) and (N, C, L) input, per-channel normalization, signal augmentation."""

import numpy as np
import pytest
import torch
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline

from sk_cnn import AugmentationSpec, CNNClassifier, CNNRegressor, ImageAugmenter, ImageNormalizer
from sk_cnn.plotting import plot_filters
from sk_cnn.training._augment import augment_batch


def _two_frequency_signals(n=240, channels=2, length=64, seed=0):
    """Class 0 oscillates twice along the signal, class 1 five times, on channel 0 only;
    random phase and amplitude, Gaussian noise on every channel, channel 1 offset by 3."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    t = np.linspace(0, 1, length, endpoint=False)
    freq = np.where(y == 0, 2, 5)[:, None]
    phase = rng.uniform(0, 2 * np.pi, (n, 1))
    X = rng.normal(0, 0.6, (n, channels, length))
    X[:, 0] += rng.uniform(0.5, 1.5, (n, 1)) * np.sin(2 * np.pi * freq * t + phase)
    X[:, 1] += 3.0
    return X.astype(np.float32), y


def test_classifier_learns_multichannel_signals():
    X, y = _two_frequency_signals()
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0,
                                                        stratify=y)
    pipe = Pipeline([
        ("norm", ImageNormalizer(input_type="signal")),
        ("aug", ImageAugmenter(horizontal_flip=False, crop_padding=4, noise=0.1, scaling=0.2)),
        ("cnn", CNNClassifier(conv_filters=(16, 32), kernel_size=7, batch_size=32, max_epochs=15,
                              input_type="signal", verbose=0, random_state=0)),
    ]).fit(X_train, y_train)
    assert pipe.score(X_test, y_test) >= 0.9  # chance is 0.5; measured 0.98
    assert isinstance(pipe["cnn"].module_.features.block1.conv, torch.nn.Conv1d)
    assert pipe["cnn"].module_.features.block1.conv.in_channels == 2
    summary = pipe["cnn"].summary()
    assert summary.layers[0].output_shape[1:] == (16, 64)


def test_normalizer_learns_per_channel_signal_statistics():
    X, _ = _two_frequency_signals(n=50)
    norm = ImageNormalizer(input_type="signal").fit(X)
    np.testing.assert_allclose(norm.mean_, X.mean(axis=(0, 2)), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(norm.std_, X.std(axis=(0, 2)), rtol=1e-4)
    Xt = norm.transform(X)
    np.testing.assert_allclose(Xt.mean(axis=(0, 2)), 0, atol=1e-4)
    # The same data read as 3-D grayscale images would have one channel.
    assert ImageNormalizer().fit(X).mean_.shape == (1,)


def test_channels_last_signals_match_channels_first():
    X, y = _two_frequency_signals(n=64, length=32)
    params = dict(conv_filters=(4,), max_epochs=2, batch_size=16, verbose=0, random_state=0,
                  input_type="signal")
    first = CNNClassifier(**params).fit(X, y)
    last = CNNClassifier(channels="last", **params).fit(X.transpose(0, 2, 1).copy(), y)
    np.testing.assert_allclose(last.predict_proba(X.transpose(0, 2, 1)), first.predict_proba(X),
                               rtol=1e-5, atol=1e-6)


def test_input_type_errors_name_the_fix():
    X, y = _two_frequency_signals(n=20, length=16)
    with pytest.raises(ValueError, match="input_type='signal'"):
        CNNClassifier(input_type="signal", verbose=0).fit(X[:, :, :, None], y)
    with pytest.raises(ValueError, match="ImageReshaper"):
        CNNClassifier(input_type="image", verbose=0).fit(X[:, 0], y)
    with pytest.raises(ValueError, match="input_type"):
        CNNClassifier(input_type="video", verbose=0).fit(X, y)
    with pytest.raises(ValueError, match="mirrors images"):
        CNNClassifier(input_type="signal", tta="flip", verbose=0).fit(X, y)


def test_regressor_on_signals():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(1000, 1, 48)).astype(np.float32)
    amplitude = rng.uniform(0.5, 3, 1000)  # the target: the noise's standard deviation
    X *= amplitude[:, None, None]
    reg = CNNRegressor(conv_filters=(8, 16), max_epochs=10, input_type="signal", verbose=0,
                       random_state=0).fit(X[:800], amplitude[:800])
    assert reg.score(X[800:], amplitude[800:]) >= 0.85  # measured 0.93


def test_noise_and_scaling_are_per_sample_and_seeded():
    X = torch.ones(64, 2, 100)
    spec = AugmentationSpec(horizontal_flip=False, crop_padding=0, scaling=0.5)
    scaled = augment_batch(X, spec, torch.Generator().manual_seed(0))
    factors = scaled[:, 0, 0]
    assert torch.allclose(scaled, factors[:, None, None].expand_as(X))  # one factor per sample
    assert factors.min() >= 0.5 and factors.max() <= 1.5 and factors.std() > 0.1
    spec = AugmentationSpec(horizontal_flip=False, crop_padding=0, noise=0.3)
    noisy = augment_batch(X, spec, torch.Generator().manual_seed(0))
    assert abs(float((noisy - X).std()) - 0.3) < 0.01
    assert abs(float((noisy - X).mean())) < 0.01
    again = augment_batch(X, spec, torch.Generator().manual_seed(0))
    assert torch.equal(noisy, again)
    assert X.eq(1).all()  # the input batch is not modified


def test_plot_filters_of_a_signal_network():
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    X, y = _two_frequency_signals(n=40, length=32)
    clf = CNNClassifier(conv_filters=(6,), max_epochs=1, input_type="signal", verbose=0,
                        random_state=0).fit(X, y)
    fig = plot_filters(clf).figure
    assert len([ax for ax in fig.axes if ax.lines or ax.images]) >= 6


def test_signal_pipeline_survives_the_pickle_free_save(tmp_path):
    import sk_cnn

    X, y = _two_frequency_signals(n=48, length=32)
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
