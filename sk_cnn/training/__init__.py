"""How sk_cnn trains: batches sliced from memory, batched augmentation, optimizers, callbacks,
backups and rollback, seeding and mixed precision.

Public here: the default batch iterator and dataset of the estimators (:class:`BatchIterator`,
:class:`ImageDataset`), the optimizer of ``optimizer="muon"`` (:class:`Muon`) and what
``mixed_precision="auto"`` asks of the device (:func:`has_fast_bfloat16`).
"""

from ._batching import BatchIterator, ImageDataset
from ._muon import Muon
from ._precision import has_fast_bfloat16

__all__ = ["BatchIterator", "ImageDataset", "Muon", "has_fast_bfloat16"]
