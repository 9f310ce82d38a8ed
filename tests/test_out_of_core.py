"""Images larger than memory: ImageLoader(cache_dir=...) and the normalization deferred to batches.

The cache is checked through its files (names, inodes and modification times: a decode writes a
new file), never by patching the decoder.
"""

import os
import shutil
import tracemalloc
import warnings

import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline

import sk_cnn
from sk_cnn import CNNClassifier, ImageAugmenter, ImageLoader, ImageNormalizer
from sk_cnn.preprocessing import NormalizedImages
from sk_cnn.preprocessing._augmentation import AugmentedArray
from sk_cnn.preprocessing._input import canonical_view
from sk_cnn.training._batching import ImageDataset, as_tensor


def _files(folder, n=48, side=12):
    """``n`` PNG files of 3 classes (one strong colour channel each) and their labels."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    paths, labels = [], []
    for i in range(n):
        label = i % 3
        image = rng.integers(0, 80, (side, side, 3), dtype=np.uint8)
        image[..., label] += 150
        path = folder / f"{i}.png"
        Image.fromarray(image).save(path)
        paths.append(str(path))
        labels.append(label)
    return paths, np.array(labels)


def _pipeline(cache_dir, size=None, **cnn):
    options = {"conv_filters": (4, 8), "batch_size": 16, "max_epochs": 2, "random_state": 0,
               "verbose": 0, **cnn}
    return Pipeline([("load", ImageLoader(size=size, cache_dir=cache_dir)),
                     ("norm", ImageNormalizer()),
                     ("aug", ImageAugmenter(random_state=0)),
                     ("cnn", CNNClassifier(**options))])


def _cache_files(folder):
    """(name, inode, mtime) of each cache file: a decode writes a new file (a new inode)."""
    return sorted((entry.name, entry.stat().st_ino, entry.stat().st_mtime_ns)
                  for entry in os.scandir(folder) if entry.name.endswith(".npy"))


def test_cache_is_a_read_only_map_decoded_once_and_renewed_when_a_file_changes(tmp_path):
    paths, _ = _files(tmp_path / "images", n=6)
    cache = tmp_path / "cache"
    loader = ImageLoader(cache_dir=str(cache))
    first = loader.transform(paths)
    assert isinstance(first, np.memmap) and not first.flags.writeable
    np.testing.assert_array_equal(first, ImageLoader().transform(paths))
    files = _cache_files(cache)
    assert len(files) == 1 and len(os.listdir(cache)) == 1  # no partial file left
    np.testing.assert_array_equal(loader.transform(paths), first)
    assert _cache_files(cache) == files  # read, not decoded again

    changed = np.full((12, 12, 3), 7, np.uint8)
    Image.fromarray(changed).save(paths[0])
    info = os.stat(paths[0])
    os.utime(paths[0], ns=(info.st_atime_ns, info.st_mtime_ns + 10**9))  # a later time
    renewed = loader.transform(paths)
    np.testing.assert_array_equal(renewed[0], changed)
    np.testing.assert_array_equal(renewed[1:], first[1:])
    assert len(_cache_files(cache)) == 2
    assert ImageLoader(size=6, cache_dir=cache).transform(paths).shape == (6, 6, 6, 3)
    assert len(_cache_files(cache)) == 3  # another size, another cache


@pytest.mark.parametrize("mode, dtype, normalized_dtype", [
    ("RGB", np.uint8, "float32"), ("L", np.uint8, "float16"), ("RGB", np.float32, "float32")])
def test_deferred_normalization_gives_the_in_memory_values(tmp_path, mode, dtype,
                                                           normalized_dtype):
    rng = np.random.default_rng(1)
    shape = (20, 5, 6, 3) if mode == "RGB" else (20, 5, 6)
    values = rng.integers(0, 256, shape).astype(dtype)
    if dtype != np.uint8:
        values /= 255
    path = tmp_path / "images.npy"
    np.save(path, values)
    mapped = np.load(path, mmap_mode="r")
    normalizer = ImageNormalizer(dtype=normalized_dtype).fit(mapped)
    deferred = normalizer.transform(mapped)
    eager = normalizer.transform(values)
    assert isinstance(deferred, NormalizedImages) and isinstance(eager, np.ndarray)
    assert deferred.shape == eager.shape and deferred.dtype == eager.dtype
    np.testing.assert_array_equal(np.asarray(deferred), eager)
    np.testing.assert_array_equal(deferred[3:7], eager[3:7])
    # What the estimator's batches get: the same values, bit for bit.
    layout = normalizer.layout_
    dataset = ImageDataset(as_tensor(canonical_view(deferred.images, layout)),
                           normalization=deferred.normalization)
    expected = torch.from_numpy(np.ascontiguousarray(canonical_view(eager, layout)))
    index = torch.tensor([4, 0, 19, 7])
    assert torch.equal(dataset.rows(index), expected[index])
    assert torch.equal(deferred.normalization(dataset.X), expected)


def test_out_of_core_pipeline_predicts_as_the_in_memory_one(tmp_path):
    paths, y = _files(tmp_path / "images")
    in_memory = _pipeline(None).fit(paths, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. an augmentation mark that did not arrive
        out_of_core = _pipeline(str(tmp_path / "cache")).fit(paths, y)
    Xt = out_of_core[:-1].transform(paths)
    assert isinstance(Xt, NormalizedImages) and isinstance(Xt.images.base, np.memmap)
    marked = out_of_core[1:-1].fit_transform(out_of_core[0].transform(paths))
    assert isinstance(marked.images, AugmentedArray)  # the augmentation mark, not a copy
    # The same float32 values in every batch, the same seeds: the same network (tolerance 0).
    np.testing.assert_array_equal(out_of_core.predict_proba(paths),
                                  in_memory.predict_proba(paths))
    np.testing.assert_array_equal(out_of_core.transform(paths), in_memory.transform(paths))
    assert out_of_core[-1].input_dtype_ == in_memory[-1].input_dtype_ == np.float32


def test_fit_and_predict_make_no_copy_of_the_decoded_images(tmp_path):
    paths, y = _files(tmp_path / "images", n=32, side=8)
    pipe = _pipeline(str(tmp_path / "cache"), size=512, conv_filters=(4,), stride=4,
                     max_epochs=1, batch_size=8)
    decoded = pipe["load"].transform(paths).nbytes  # 25 MB of uint8, 101 MB as float32
    tracemalloc.start()
    try:
        pipe.fit(paths, y).predict(paths)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # numpy's allocations (torch's are not traced): the normalizer's statistics read chunks of
    # 8 MB; an in-memory copy would take the decoded size, a float32 one four times it.
    assert peak < decoded, (peak, decoded)


def test_grid_search_decodes_each_fold_once_for_all_candidates(tmp_path):
    paths, y = _files(tmp_path / "images", n=24, side=8)
    cache = tmp_path / "cache"
    pipe = _pipeline(str(cache), max_epochs=1)
    GridSearchCV(pipe, {"cnn__lr": [1e-3]}, cv=2).fit(paths, y)
    files = _cache_files(cache)
    # The two folds' files (each fold's test files are the other's training files), then all
    # of them for the refit.
    assert len(files) == 3
    search = GridSearchCV(pipe, {"cnn__lr": [1e-3, 3e-3, 1e-2]}, cv=2).fit(paths, y)
    assert _cache_files(cache) == files  # three candidates, nothing decoded
    assert search.predict(paths).shape == (24,)


def test_a_saved_pipeline_needs_no_cache_folder(tmp_path):
    paths, y = _files(tmp_path / "images", n=24, side=8)
    cache = tmp_path / "cache"
    pipe = _pipeline(str(cache), max_epochs=1).fit(paths, y)
    expected = pipe.predict_proba(paths)
    path = sk_cnn.save(pipe, tmp_path / "model.skcnn")
    shutil.rmtree(cache)
    loaded = sk_cnn.load(path)
    assert loaded["load"].cache_dir == str(cache)
    np.testing.assert_array_equal(loaded.predict_proba(paths), expected)  # cache made again
    assert len(_cache_files(cache)) == 1


def test_a_frozen_backbone_computes_its_features_from_normalized_batches(tmp_path):
    paths, y = _files(tmp_path / "images", n=30)
    frozen = {"backbone": "resnet18", "freeze": "backbone", "conv_filters": (4,)}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "freeze='backbone' with weights=None")
        in_memory = _pipeline(None, **frozen).set_params(aug=None).fit(paths, y)
        out_of_core = _pipeline(str(tmp_path / "cache"), **frozen).set_params(aug=None)
        out_of_core.fit(paths, y)
    np.testing.assert_allclose(out_of_core.predict_proba(paths), in_memory.predict_proba(paths),
                               rtol=1e-5, atol=1e-6)
