"""The examples that the documentation build does not run (it runs the plot_* ones) still run:
each on sklearn's digits, in a subprocess, from a temporary folder."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


# example: a line its output must contain
@pytest.mark.parametrize("example, expected", [
    ("quickstart.py", "test accuracy: "),
    ("grid_search.py", "best: {'cnn__dropout'"),
    ("transfer_learning.py", "fine-tuning gains"),
])
def test_example_runs(example, expected, tmp_path):
    env = {**os.environ, "SK_CNN_EXAMPLE_DATA": "digits", "SK_CNN_EXAMPLE_OUTPUT": str(tmp_path)}
    result = subprocess.run([sys.executable, str(EXAMPLES / example)], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert expected in result.stdout, result.stdout[-3000:]
    assert "Warning" not in result.stderr, result.stderr[-3000:]
