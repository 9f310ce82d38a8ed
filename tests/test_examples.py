"""Each example runs as a user who downloaded that one file runs it: copied alone into an
empty folder, run there in a subprocess on sklearn's digits, with only sk_cnn installed."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

# Each example: a line its output must contain, and the pictures it promises to save. Every
# file in examples/ needs an entry (test_every_example_is_listed).
EXPECTED = {
    "quickstart.py": ("test accuracy: ", ["confusion_matrix.png", "model.joblib"]),
    "grid_search.py": ("best: {'cnn__dropout'", ["grid_search_scores.png"]),
    "signals.py": ("1-nearest-neighbour (Euclidean) test accuracy",
                   ["signals.png"]),
    "transfer_learning.py": ("fine-tuning gains", ["transfer_learning.png"]),
    "plot_filters.py": ("test accuracy", ["first_layer_filters.png", "predictions.png",
                                          "mistakes.png", "confusion_matrix.png"]),
    "plot_grad_cam.py": ("rank correlation of the trained and re-initialized", [
        "grad_cam.png", "grad_cam_other_class.png", "grad_cam_randomized.png"]),
    "plot_image_regression.py": ("test R^2", ["rotation_regression.png"]),
    "plot_optimizers.py": ("Adam: fit in", ["optimizer_comparison.png"]),
    "plot_training_curves.py": ("no dropout: fit in", ["training_curves_no_dropout.png",
                                                        "dropout_comparison.png"]),
}
SCRIPTS = sorted(path.name for path in EXAMPLES.glob("*.py"))


def test_every_example_is_listed():
    assert SCRIPTS, f"no examples found in {EXAMPLES}"
    assert sorted(EXPECTED) == SCRIPTS


@pytest.mark.parametrize("example", SCRIPTS)
def test_example_runs_alone(example, tmp_path):
    if example not in EXPECTED:
        pytest.fail(f"{example} has no entry in EXPECTED")
    expected_line, pictures = EXPECTED[example]
    folder, output = tmp_path / "run", tmp_path / "output"
    folder.mkdir()
    shutil.copy(EXAMPLES / example, folder)
    env = {**os.environ, "SK_CNN_EXAMPLE_DATA": "digits", "SK_CNN_EXAMPLE_OUTPUT": str(output),
           "MPLBACKEND": "Agg",
           "SK_CNN_OFFLINE": "1",  # a download attempt fails the run
           # One torch thread: on a busy machine, threads waiting on each other cost far more
           # than they gain on these small networks.
           "OMP_NUM_THREADS": "1"}
    env.pop("PYTHONPATH", None)  # nothing from the checkout but the installed sk_cnn
    result = subprocess.run([sys.executable, example], cwd=folder, env=env,
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert expected_line in result.stdout, result.stdout[-3000:]
    assert "Warning" not in result.stderr, result.stderr[-3000:]
    missing = [name for name in pictures if not (output / name).is_file()]
    assert not missing, f"{example} did not save {missing}"
