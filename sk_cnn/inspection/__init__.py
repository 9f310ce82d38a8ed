"""Looking into a network: a Keras-like summary of its layers (:func:`model_summary`, or
``clf.summary()``), for sk_cnn's estimators and any torch module."""

from ..networks._summary import LayerRow, ModelSummary, summarize_module
from ._summary import model_summary

__all__ = ["LayerRow", "ModelSummary", "model_summary", "summarize_module"]
