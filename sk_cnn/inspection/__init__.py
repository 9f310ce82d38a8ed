"""Looking into a network: a Keras-like summary of its layers (:func:`model_summary`, or
``clf.summary()``), for sk_cnn's estimators and any torch module, and where an image network
finds the evidence for a class (:func:`grad_cam`); the learning-rate range test
(:func:`lr_find`)."""

from ..networks._summary import LayerRow, ModelSummary, summarize_module
from ._grad_cam import grad_cam
from ._lr_find import LRFinderResult, lr_find
from ._summary import model_summary

__all__ = ["LRFinderResult", "LayerRow", "ModelSummary", "grad_cam", "lr_find", "model_summary",
           "summarize_module"]
