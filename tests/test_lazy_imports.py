"""``import sk_cnn`` and ``sk-cnn --help`` load neither torch nor scikit-learn nor skorch; the
public names load them when first used (``sk_cnn/__init__.py``'s ``__getattr__``).

Each check runs in a fresh interpreter: in this one, the other tests have imported everything.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
from sklearn.pipeline import Pipeline

import sk_cnn
from sk_cnn import CNNClassifier, ImageNormalizer

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "sklearn", "skorch")

# The public API, as it was before the imports became lazy.
PUBLIC = ["AugmentationSpec", "CNNClassifier", "CNNFeatureExtractor", "CNNRegressor",
          "ImageAugmenter", "ImageLoader", "ImageNormalizer", "ImageReshaper", "export_onnx",
          "export_program", "__version__", "datasets", "load", "lr_find", "save", "save_weights"]


def _python(code, *args):
    """Run ``code`` in a fresh interpreter from this checkout; return what it printed as JSON."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO),
                                                        os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-c", code, *map(str, args)], env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


_LOADED = f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"


def test_import_sk_cnn_loads_no_heavy_library():
    loaded = _python(f"import json, sys\nimport sk_cnn\nprint(sk_cnn.__version__)\n{_LOADED}")
    assert loaded == []


def test_cli_help_loads_no_heavy_library():
    # python -m sk_cnn.cli COMMAND --help, as the sk-cnn script runs it (sk_cnn.cli:main).
    code = f"""import json, runpy, sys
outputs = []
for command in ([], ["train"], ["predict"], ["evaluate"], ["export"], ["demo"]):
    sys.argv = ["sk-cnn", *command, "--help"]
    try:
        runpy.run_module("sk_cnn.cli", run_name="__main__", alter_sys=True)
    except SystemExit as exit:
        assert exit.code == 0, exit.code
{_LOADED}"""
    assert _python(code) == []
    code = f"""import json, sys
from sk_cnn.cli import main
try:
    main(["train", "--help"])
except SystemExit:
    pass
{_LOADED}"""
    assert _python(code) == []


def test_every_public_name_resolves_in_a_fresh_interpreter():
    code = """import json, sys
import sk_cnn
import sk_cnn.cli
names = {n: type(getattr(sk_cnn, n)).__name__ for n in sk_cnn.__all__}
namespace = {}
exec("from sk_cnn import *", namespace)
cli = [type(getattr(sk_cnn.cli, n)).__name__ for n in sk_cnn.cli.__all__]
print(json.dumps([sk_cnn.__all__, names, sorted(set(namespace) - {"__builtins__"}),
                  sorted(set(sk_cnn.__all__) - set(dir(sk_cnn))), cli,
                  sk_cnn.io.save is sk_cnn.save]))"""
    all_names, kinds, star, missing_from_dir, cli, same = _python(code)
    assert all_names == PUBLIC
    assert kinds["CNNClassifier"] == "type" and kinds["datasets"] == "module"
    assert kinds["save"] == "function" and kinds["__version__"] == "str"
    assert star == sorted(PUBLIC)
    assert missing_from_dir == []
    assert cli == ["type", "function", "function", "function"]
    assert same  # a submodule is reached as an attribute, as when the root imported it


def test_unknown_attribute_is_an_attribute_error():
    assert not hasattr(sk_cnn, "no_such_name")
    assert sk_cnn.__getattr__.__module__ == "sk_cnn"


def test_a_pickled_pipeline_loads_in_a_fresh_interpreter(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.integers(0, 255, (16, 8, 8), dtype=np.uint8)
    y = np.arange(16) % 2
    model = Pipeline([("norm", ImageNormalizer()),
                      ("cnn", CNNClassifier(conv_filters=(4,), max_epochs=1, verbose=0,
                                            random_state=0))]).fit(X, y)
    joblib.dump(model, tmp_path / "m.joblib")
    np.save(tmp_path / "X.npy", X)
    code = """import json, sys
import joblib, numpy as np
model = joblib.load(sys.argv[1])
print(json.dumps(model.predict_proba(np.load(sys.argv[2])).tolist()))"""
    proba = _python(code, tmp_path / "m.joblib", tmp_path / "X.npy")
    np.testing.assert_allclose(proba, model.predict_proba(X), atol=1e-6)
