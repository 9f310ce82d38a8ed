"""ImageLoader: decoding files into uint8 arrays, in threads, with clear errors."""

import os
import warnings
from pathlib import Path

import joblib
import numpy as np
import pytest
from PIL import Image
from sklearn.base import clone
from sklearn.pipeline import Pipeline
from sklearn.utils import get_tags
from sklearn.utils.estimator_checks import (
    check_do_not_raise_errors_in_init_or_set_params,
    check_estimator,
    check_get_params_invariance,
    check_no_attributes_set_in_init,
    check_parameters_default_constructible,
    check_set_params,
)

from sk_cnn import CNNClassifier, ImageAugmenter, ImageLoader, ImageNormalizer
from sk_cnn.preprocessing._loader import read_image

RNG = np.random.default_rng(0)


def _save(path, array, **kwargs):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, **kwargs)
    return path


def _gray_601(rgb):
    """ITU-R 601 luma, the conversion Pillow documents for RGB -> L."""
    return rgb.astype(np.float64) @ np.array([0.299, 0.587, 0.114])


@pytest.fixture
def rgb():
    return RNG.integers(0, 256, (6, 7, 3), dtype=np.uint8)


def test_png_modes_are_converted_to_rgb(tmp_path, rgb):
    alpha = np.full(rgb.shape[:2], 77, np.uint8)
    paths = [
        _save(tmp_path / "rgb.png", rgb),
        _save(tmp_path / "rgba.png", np.dstack([rgb, alpha])),
        _save(tmp_path / "gray.png", rgb[..., 0]),
        _save(tmp_path / "gray16.png", rgb[..., 0].astype(np.uint16) * 257),
        _save(tmp_path / "rgb.bmp", rgb),
    ]
    X = ImageLoader().fit_transform(paths)
    assert X.dtype == np.uint8 and X.shape == (5, 6, 7, 3)
    np.testing.assert_array_equal(X[0], rgb)
    np.testing.assert_array_equal(X[1], rgb)  # alpha dropped
    np.testing.assert_array_equal(X[2], np.repeat(rgb[..., :1], 3, axis=2))
    np.testing.assert_array_equal(X[3], X[2])  # 16-bit scaled to 8 bits
    np.testing.assert_array_equal(X[4], rgb)


def test_grayscale_mode_and_palette_input(tmp_path, rgb):
    palette = Image.fromarray(rgb).quantize(colors=16)
    palette.save(tmp_path / "palette.png")
    paths = [_save(tmp_path / "rgb.png", rgb), tmp_path / "palette.png"]
    X = ImageLoader(mode="L").fit_transform(paths)
    assert X.shape == (2, 6, 7) and X.dtype == np.uint8
    np.testing.assert_allclose(X[0], _gray_601(rgb), atol=1)
    np.testing.assert_allclose(X[1], _gray_601(np.asarray(palette.convert("RGB"))), atol=1)


def test_grayscale_jpeg_reads_the_same_with_and_without_size(tmp_path):
    # A loader fitted without size is saved with the training size; predicting then passes
    # size, which must not switch to libjpeg's own grayscale decoding (up to 11 levels off).
    colour = RNG.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    path = _save(tmp_path / "colour.jpg", colour, quality=75)
    full = read_image(path, mode="L")
    np.testing.assert_array_equal(read_image(path, mode="L", size=(64, 64)), full)
    with Image.open(path) as image:
        np.testing.assert_array_equal(full, np.asarray(image.convert("L")))


def test_jpeg_is_decoded_close_to_the_original(tmp_path):
    smooth = np.zeros((16, 16, 3), np.uint8)
    smooth[..., 0] = np.arange(16) * 16  # a gentle gradient survives JPEG compression
    smooth[..., 2] = 200
    path = _save(tmp_path / "a.jpg", smooth, quality=95)
    X = ImageLoader().fit_transform([str(path)])
    assert X.shape == (1, 16, 16, 3)
    assert np.abs(X[0].astype(int) - smooth).mean() < 3


def test_exif_orientation_is_applied(tmp_path, rgb):
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    path = _save(tmp_path / "rotated.png", rgb, exif=exif)
    np.testing.assert_array_equal(ImageLoader().fit_transform([path])[0], np.rot90(rgb, k=-1))


def test_mixed_sizes_need_size(tmp_path):
    paths = [_save(tmp_path / "a.png", np.zeros((8, 8, 3), np.uint8)),
             _save(tmp_path / "b.png", np.zeros((5, 9, 3), np.uint8))]
    with pytest.raises(ValueError, match=r"different sizes.*a\.png.*8x8.*b\.png.*5x9.*size="):
        ImageLoader().fit_transform(paths)
    X = ImageLoader(size=(4, 6)).fit_transform(paths)
    assert X.shape == (2, 4, 6, 3)
    assert ImageLoader(size=5, mode="L").fit_transform(paths).shape == (2, 5, 5)


def test_resize_keeps_a_constant_color_and_shrinks_large_jpegs(tmp_path, monkeypatch):
    from PIL import JpegImagePlugin

    color = np.array([200, 30, 90], np.uint8)
    paths = [_save(tmp_path / "flat.png", np.broadcast_to(color, (9, 13, 3)).copy()),
             _save(tmp_path / "big.jpg", np.broadcast_to(color, (400, 300, 3)).copy())]
    # JPEG files override Image.draft (the base method does nothing): spy on theirs.
    drafts = []
    draft = JpegImagePlugin.JpegImageFile.draft

    def spy(self, mode, size):
        result = draft(self, mode, size)
        drafts.append((mode, size, self.size))  # the size the file will be decoded at
        return result

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", spy)
    X = ImageLoader(size=(3, 4)).fit_transform(paths)
    # Asked for at least the target size, in the file's own mode; decoded at 1/8 scale.
    assert drafts == [("RGB", (4, 4), (38, 50))]
    np.testing.assert_array_equal(X[0], np.broadcast_to(color, (3, 4, 3)))
    assert np.abs(X[1].astype(int) - color).max() <= 4  # JPEG colour rounding only


def test_corrupt_and_missing_files_are_named(tmp_path, rgb):
    good = _save(tmp_path / "good.jpg", rgb)
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(good.read_bytes()[:60])
    not_image = tmp_path / "notes.png"
    not_image.write_text("not an image")
    for bad in (truncated, not_image):
        with pytest.raises(ValueError, match=f"Cannot decode image file '{bad}'"):
            ImageLoader().fit_transform([good, bad])
    with pytest.raises(FileNotFoundError, match="missing.png"):
        ImageLoader().fit_transform([good, tmp_path / "missing.png"])


def test_threads_give_the_same_images_and_still_report_errors(tmp_path):
    images = RNG.integers(0, 256, (150, 5, 4, 3), dtype=np.uint8)
    paths = [_save(tmp_path / f"{i:03d}.png", image) for i, image in enumerate(images)]
    for n_jobs in (1, 2, -1, None):
        np.testing.assert_array_equal(ImageLoader(n_jobs=n_jobs).fit_transform(paths), images)
    paths[97] = tmp_path / "broken.png"
    paths[97].write_bytes(b"\x89PNG broken")
    with pytest.raises(ValueError, match="broken.png"):
        ImageLoader(n_jobs=2).fit_transform(paths)
    paths[97] = _save(tmp_path / "other_size.png", images[0, :3])
    with pytest.raises(ValueError, match="other_size.png.*size="):
        ImageLoader(n_jobs=2).fit_transform(paths)


def test_accepted_path_collections_and_no_mutation(tmp_path, rgb):
    paths = [str(_save(tmp_path / f"{i}.png", rgb)) for i in range(3)]
    as_array = np.array(paths, dtype=object)
    before = as_array.copy()
    expected = ImageLoader().fit_transform(paths)
    for X in ([Path(p) for p in paths], tuple(paths), as_array, np.array(paths),
              as_array.reshape(-1, 1)):
        np.testing.assert_array_equal(ImageLoader().fit_transform(X), expected)
    np.testing.assert_array_equal(as_array, before)
    pd = pytest.importorskip("pandas")
    series = pd.Series(paths, index=[10, 20, 30])
    np.testing.assert_array_equal(ImageLoader().fit_transform(series), expected)


@pytest.mark.parametrize("X, error, match", [
    ("one.png", TypeError, "single path"),
    ([], ValueError, "0 image paths"),
    (["a.png", 3], TypeError, "entry 1 is 3"),
    (np.array([["a.png", "b.png"]]), ValueError, "1-D"),
    (None, TypeError, "list, numpy array or pandas Series"),
])
def test_bad_input_gets_clear_errors(X, error, match):
    with pytest.raises(error, match=match):
        ImageLoader().fit(X)
    with pytest.raises(error, match=match):
        ImageLoader().transform(X)


@pytest.mark.parametrize("params, match", [
    ({"mode": "RGBA"}, "mode"),
    ({"size": (0, 4)}, "size"),
    ({"size": (4, 4, 3)}, "size"),
    ({"size": "big"}, "size"),
    ({"n_jobs": "all"}, "n_jobs"),
])
def test_bad_parameters_get_clear_errors(tmp_path, rgb, params, match):
    path = _save(tmp_path / "a.png", rgb)
    with pytest.raises(ValueError, match=match):
        ImageLoader(**params).fit([path])
    with pytest.raises(ValueError, match=match):
        ImageLoader(**params).transform([path])


def test_scikit_learn_conventions(tmp_path, rgb):
    loader = ImageLoader(size=(4, 4), mode="L", n_jobs=1)
    tags = get_tags(loader)
    assert tags.input_tags.string and not tags.input_tags.two_d_array
    assert not tags.requires_fit
    # Only the checks that need no numeric data apply to a transformer of file paths.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SkipTestWarning: numeric checks do not apply
        check_estimator(loader)
    for check in (check_no_attributes_set_in_init, check_parameters_default_constructible,
                  check_get_params_invariance, check_set_params,
                  check_do_not_raise_errors_in_init_or_set_params):
        check("ImageLoader", loader)
    paths = [_save(tmp_path / "a.png", rgb)]
    params = loader.get_params()
    assert loader.fit(paths) is loader and loader.get_params() == params
    np.testing.assert_array_equal(loader.transform(paths), clone(loader).transform(paths))
    restored = joblib.load(_dump(loader, tmp_path / "loader.joblib"))
    np.testing.assert_array_equal(restored.transform(paths), loader.transform(paths))


def _dump(obj, path):
    joblib.dump(obj, path)
    return path


def test_pipeline_from_paths_matches_pipeline_from_arrays(tmp_path, tiny_images):
    X, y = tiny_images
    labels = np.array(["dark", "bright"])[y]
    paths = [_save(tmp_path / label / f"{i:02d}.png", image)
             for i, (image, label) in enumerate(zip(X, labels))]

    def steps():
        return [("norm", ImageNormalizer()), ("aug", ImageAugmenter(crop_padding=1)),
                ("cnn", CNNClassifier(conv_filters=(4, 8), max_epochs=2, batch_size=16,
                                      verbose=0, random_state=0))]

    from_paths = Pipeline([("load", ImageLoader())] + steps()).fit(paths, labels)
    from_arrays = Pipeline(steps()).fit(X, labels)
    np.testing.assert_array_equal(from_paths.predict_proba(paths), from_arrays.predict_proba(X))
    restored = joblib.load(_dump(from_paths, tmp_path / "pipe.joblib"))
    np.testing.assert_array_equal(restored.predict(paths), from_paths.predict(paths))
    assert set(restored.predict(paths)) <= {"dark", "bright"}


def test_n_jobs_none_follows_scikit_learn():
    from joblib import parallel_config

    from sk_cnn.preprocessing._loader import _n_threads

    assert _n_threads(None) == 1
    assert _n_threads(1) == 1
    with parallel_config(n_jobs=2):
        assert _n_threads(None) == 2


def test_messages_show_plain_paths_not_numpy_reprs(tmp_path, rgb):
    # load_image_folder returns numpy arrays of str, whose entries are np.str_.
    good, bad = _save(tmp_path / "good.png", rgb), tmp_path / "bad.png"
    bad.write_text("not an image")
    _save(tmp_path / "small.png", rgb[:3])
    calls = [
        (np.array([str(good), str(tmp_path / "missing.png")]), FileNotFoundError,
         f"No such file or directory: '{tmp_path / 'missing.png'}'"),
        (np.array([str(good), str(bad)]), ValueError, f"cannot identify image file '{bad}'"),
        (np.array([str(good), str(tmp_path / "small.png")]), ValueError,
         f"'{tmp_path / 'small.png'}' is 3x7"),
        (np.array([str(good)])[0], TypeError, f"Wrap it in a list: ['{good}']"),
    ]
    for X, error, expected in calls:
        with pytest.raises(error) as info:
            ImageLoader().fit_transform(X)
        assert expected in str(info.value) and "np.str_" not in str(info.value), info.value


@pytest.mark.parametrize("mode, size", [("L", None), ("RGB", None), ("RGB", 8)])
def test_floating_point_images_are_refused_not_truncated_to_black(tmp_path, rgb, mode, size):
    # Pillow's own conversion of mode "F" truncates: values in [0, 1] became 0 (black) and 1.
    path = tmp_path / "float.tif"
    Image.fromarray(np.linspace(0, 1, 42, dtype=np.float32).reshape(6, 7)).save(path)
    assert Image.open(path).mode == "F"
    with pytest.raises(ValueError, match=r"'.*float\.tif' has 32-bit floating-point pixels "
                                         r"\(Pillow mode 'F'\).*8 or 16 bits"):
        ImageLoader(mode=mode, size=size).fit_transform([_save(tmp_path / "a.png", rgb), path])



@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs")
def test_a_fifo_is_refused_instead_of_waited_on(tmp_path):
    fifo = tmp_path / "2.png"
    os.mkfifo(fifo)  # opened for reading, it would wait for a writer forever
    with pytest.raises(ValueError, match="is not a regular file"):
        ImageLoader().fit_transform([fifo])
