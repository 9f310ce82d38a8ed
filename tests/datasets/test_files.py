"""sk_cnn.datasets: class-per-folder trees and sklearn's digits as images."""

import os
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits

from sk_cnn.datasets import find_images, load_digits_images, load_image_folder

RNG = np.random.default_rng(0)


@pytest.fixture
def rgb():
    return RNG.integers(0, 256, (6, 7, 3), dtype=np.uint8)


def test_load_image_folder_order_labels_and_filtering(tmp_path, rgb):
    for relative in ("zebra/b.png", "zebra/a.JPG", "ant/nested/c.png", "ant/d.webp",
                     "ant/notes.txt", "ant/.hidden.png", ".cache/e.png", "ant/.ipynb/f.png"):
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_bytes(b"")
    (tmp_path / "loose.png").write_bytes(b"")  # files directly in root belong to no class
    paths, labels = load_image_folder(tmp_path)
    relative = [str(Path(p).relative_to(tmp_path).as_posix()) for p in paths]
    assert relative == ["ant/d.webp", "ant/nested/c.png", "zebra/a.JPG", "zebra/b.png"]
    assert labels.tolist() == ["ant", "ant", "zebra", "zebra"]
    paths, labels = load_image_folder(str(tmp_path), extensions=("png",))
    assert labels.tolist() == ["ant", "zebra"]
    assert [Path(p).name for p in find_images(tmp_path / "ant")] == ["d.webp", "c.png"]


def test_folder_links_are_followed_but_not_into_a_loop(tmp_path):
    for relative in ("cat/1.png", "dog/2.png", "shared/3.png"):
        (tmp_path / "data" / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "data" / relative).write_bytes(b"")
    (tmp_path / "data" / "cat" / "more").symlink_to(tmp_path / "data" / "shared")
    (tmp_path / "data" / "dog" / "up").symlink_to(tmp_path / "data")  # a loop
    (tmp_path / "other").mkdir()  # and a loop through a folder outside the tree
    (tmp_path / "other" / "back").symlink_to(tmp_path / "data" / "shared")
    (tmp_path / "data" / "shared" / "out").symlink_to(tmp_path / "other")
    with pytest.warns(UserWarning) as caught:
        paths, labels = load_image_folder(tmp_path / "data")
    skipped = {str(w.message).split()[1].rstrip(":") for w in caught}
    assert {str(tmp_path / "data/dog/up"), str(tmp_path / "data/shared/out/back")} <= skipped
    relative = [Path(p).relative_to(tmp_path / "data").as_posix() for p in paths]
    assert relative == ["cat/1.png", "cat/more/3.png", "dog/2.png", "shared/3.png"]
    assert labels.tolist() == ["cat", "cat", "dog", "shared"]
    assert all("links to a folder that contains it" in str(w.message) for w in caught)


def test_load_image_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a directory"):
        load_image_folder(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="no class sub-folders"):
        load_image_folder(tmp_path)
    (tmp_path / "cat").mkdir()
    (tmp_path / "dog").mkdir()
    (tmp_path / "dog" / "1.png").write_bytes(b"")
    with pytest.raises(ValueError, match=r"\['cat'\].*no image file"):
        load_image_folder(tmp_path)


def test_load_digits_images():
    X, y = load_digits_images()
    digits = load_digits()
    assert X.shape == (1797, 8, 8) and X.dtype == np.uint8
    assert X.max() == 255 and X.min() == 0
    np.testing.assert_allclose(X, digits.images * 255 / 16, atol=0.5)
    np.testing.assert_array_equal(y, digits.target)



@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs")
def test_only_regular_files_are_listed(tmp_path):
    (tmp_path / "cat").mkdir()
    (tmp_path / "cat" / "1.png").write_bytes(b"")
    os.mkfifo(tmp_path / "cat" / "2.png")
    (tmp_path / "cat" / "3.png").mkdir()
    paths, labels = load_image_folder(tmp_path)
    assert [os.path.basename(p) for p in paths] == ["1.png"] and labels.tolist() == ["cat"]
