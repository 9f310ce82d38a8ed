"""Saving, loading and exporting fitted models.

:func:`save` and :func:`load` write and read a pickle-free file (safetensors + JSON);
:func:`save_weights` writes a network's state dict for ``weights=``; :func:`export_onnx` and
:func:`export_program` write the whole pipeline, preprocessing included, for serving without
sk_cnn.
"""

from ._export import export_onnx, export_program
from ._save_load import load, save, save_weights

__all__ = ["export_onnx", "export_program", "load", "save", "save_weights"]
