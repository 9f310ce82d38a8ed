"""Root pytest configuration: parallel workers and the optional extras.

- Under pytest-xdist (``make test`` runs ``-n auto``), each worker process gets its share of
  the cores for torch's threads, instead of every worker using them all.
- Modules that cannot import without their extra are not collected for doctests.
- Doctests that need an optional extra are skipped when it is not installed.
"""

import importlib
import importlib.util
import os

import pytest

# sk_cnn.plotting needs the optional matplotlib (the [plot] extra); --doctest-modules would
# otherwise fail to import it where matplotlib is absent. Its tests skip themselves.
collect_ignore = [] if importlib.util.find_spec("matplotlib") else ["sk_cnn/plotting"]

# Doctest -> the modules of the extra it needs.
_NEEDS = {"sk_cnn.io._export.export_onnx": ("onnx", "onnxruntime", "onnxscript")}


def pytest_configure(config):
    workers = os.environ.get("PYTEST_XDIST_WORKER_COUNT")
    if workers:
        import torch

        torch.set_num_threads(max(1, (os.cpu_count() or 1) // int(workers)))


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
