"""Every ```python block of README.md runs as written.

The blocks run in order, in one namespace (a later block uses what an earlier one defined, as
a reader pasting them one after another would), in a fresh interpreter with matplotlib's Agg
backend and ``SK_CNN_OFFLINE=1`` (no block may need the network). The working directory is a
temporary folder, so the files the blocks write (``confusion.png``, ``digits.onnx``, ...) land
there. The "Images in folders" block trains on a class-per-folder tree at ``data/`` and
predicts ``new/photo.jpg``, the reader's own images: the test writes a small tree of PNG files
and a JPEG there first. No block is skipped; one that cannot run as written fails the test.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)

# Runs the blocks of a JSON list [[first line, source], ...]; "block N ok" after each.
RUNNER = """\
import json, sys
namespace = {"__name__": "__main__"}
for number, (line, source) in enumerate(json.load(open(sys.argv[1])), 1):
    print(f"--- README.md block {number} (line {line})", flush=True)
    exec(compile(source, f"README.md, block {number} (line {line})", "exec"), namespace)
    print(f"block {number} ok", flush=True)
"""


def readme_blocks():
    """[(line number of the opening fence, source)] of the ```python blocks, in order."""
    text = README.read_text(encoding="utf-8")
    return [(text.count("\n", 0, match.start()) + 1, match.group(1))
            for match in BLOCK.finditer(text)]


def test_readme_has_python_blocks():
    blocks = readme_blocks()
    # The quickstart, the model views, the plots, serving and images in folders at least:
    # fewer means the pattern above stopped matching the README's fences.
    assert len(blocks) >= 5
    assert any("load_digits" in source for _, source in blocks)


def _image_folder(root: Path):
    """data/<class>/*.png (two classes of coloured squares, 10 each) and new/photo.jpg."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for label, channel in (("cat", 0), ("dog", 2)):
        (root / "data" / label).mkdir(parents=True)
        for i in range(10):
            pixels = rng.integers(0, 80, size=(16, 16, 3), dtype=np.uint8)
            pixels[..., channel] += 150
            Image.fromarray(pixels).save(root / "data" / label / f"{i:03d}.png")
    (root / "new").mkdir()
    Image.fromarray(rng.integers(0, 255, size=(20, 24, 3), dtype=np.uint8)).save(
        root / "new" / "photo.jpg")


@pytest.mark.filterwarnings("ignore")
def test_readme_python_blocks_run_in_order(tmp_path):
    blocks = readme_blocks()
    work = tmp_path / "work"
    work.mkdir()
    _image_folder(work)
    (tmp_path / "blocks.json").write_text(json.dumps(blocks))
    (tmp_path / "run_blocks.py").write_text(RUNNER)
    env = {**os.environ, "MPLBACKEND": "Agg", "SK_CNN_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, str(tmp_path / "run_blocks.py"), str(tmp_path / "blocks.json")],
        cwd=work, env=env, capture_output=True, text=True, timeout=600)
    output = result.stdout[-6000:] + result.stderr[-6000:]
    assert result.returncode == 0, output
    for number in range(1, len(blocks) + 1):
        assert f"block {number} ok" in result.stdout, output
