"""ImageReshaper: flat rows to images and back, channels first."""

import numpy as np
import pytest

from sk_cnn import ImageReshaper

RNG = np.random.default_rng(0)


def test_reshaper_flat_rows_to_images_and_back():
    X = RNG.random((5, 64))
    reshaper = ImageReshaper(image_shape=(8, 8)).fit(X)
    images = reshaper.transform(X)
    assert images.shape == (5, 8, 8) and reshaper.output_shape_ == (8, 8)
    np.testing.assert_array_equal(images[2, 1], X[2, 8:16])
    np.testing.assert_array_equal(reshaper.inverse_transform(images), X)


def test_reshaper_channels_last_rows_become_channels_first():
    X = RNG.random((4, 4 * 4 * 3))
    images = ImageReshaper(image_shape=(4, 4, 3), channels="last").fit_transform(X)
    assert images.shape == (4, 3, 4, 4)
    np.testing.assert_array_equal(images[0, :, 0, 0], X[0, :3])
    reshaper = ImageReshaper(image_shape=(4, 4, 3), channels="last").fit(X)
    np.testing.assert_array_equal(reshaper.inverse_transform(reshaper.transform(X)), X)


@pytest.mark.parametrize("n_features, expected", [(64, (8, 8)), (9, (3, 3)), (10, (10,)),
                                                   (2, (2,))])
def test_reshaper_without_shape_infers_square_images_or_signals(n_features, expected):
    X = RNG.random((3, n_features))
    assert ImageReshaper().fit_transform(X).shape[1:] == expected


def test_reshaper_wrong_size_says_what_fits():
    with pytest.raises(ValueError, match=r"image_shape=\(8, 8\) would fit"):
        ImageReshaper(image_shape=(9, 9)).fit(RNG.random((3, 64)))
    reshaper = ImageReshaper(image_shape=(8, 8)).fit(RNG.random((3, 64)))
    with pytest.raises(ValueError, match="features"):
        reshaper.transform(RNG.random((3, 63)))


def test_reshaper_channels_last_images_become_channels_first_views():
    X = RNG.random((2, 5, 6, 3))
    out = ImageReshaper().fit_transform(X)
    assert out.shape == (2, 3, 5, 6) and np.shares_memory(out, X)

