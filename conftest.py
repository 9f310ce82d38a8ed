"""Root pytest configuration for the optional extras.

- Modules that cannot import without their extra are not collected for doctests.
- Doctests that need an optional extra are skipped when it is not installed.
"""

import importlib
import importlib.util

import pytest

# sk_cnn.plotting needs the optional matplotlib (the [plot] extra); --doctest-modules would
# otherwise fail to import it where matplotlib is absent. Its tests skip themselves.
collect_ignore = [] if importlib.util.find_spec("matplotlib") else ["sk_cnn/plotting"]

# Doctest -> the modules of the extra it needs.
_NEEDS = {"sk_cnn.io._export.export_onnx": ("onnx", "onnxruntime", "onnxscript")}


def _missing(modules):
    missing = []
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    return missing


def pytest_collection_modifyitems(config, items):
    for item in items:
        missing = _missing(_NEEDS.get(item.name, ()))
        if missing:
            item.add_marker(pytest.mark.skip(
                reason=f"needs {', '.join(missing)}: pip install 'sk_cnn[onnx]'"))
