"""Doctests that need an optional extra are skipped when it is not installed."""

import importlib

import pytest

# Doctest -> the modules of the extra it needs.
_NEEDS = {"sk_cnn.export.export_onnx": ("onnx", "onnxruntime", "onnxscript")}


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
