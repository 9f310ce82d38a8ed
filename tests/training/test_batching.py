"""Batches sliced from one in-memory tensor: sizes, shared memory."""

import warnings

import numpy as np
import torch

from sk_cnn.training import BatchIterator, ImageDataset
from sk_cnn.training._batching import as_tensor


def test_read_only_memmap_is_shared_and_warning_filters_are_left_alone(tmp_path, monkeypatch):
    # Silencing torch's read-only warning with warnings.catch_warnings is not thread-safe before
    # Python 3.14: threads that fit or predict at once could leave its "ignore" filter behind.
    calls, from_numpy = [], torch.from_numpy

    def spy(array):
        calls.append((list(warnings.filters), array.flags.writeable))
        return from_numpy(array)

    monkeypatch.setattr(torch, "from_numpy", spy)
    np.save(tmp_path / "X.npy", np.arange(48, dtype=np.uint8).reshape(2, 4, 6))
    X = np.load(tmp_path / "X.npy", mmap_mode="r")  # as joblib hands large arrays to workers
    filters = list(warnings.filters)
    tensor = as_tensor(X[:, ::2].transpose(0, 2, 1))
    assert calls == [(filters, True)]  # a writeable alias: torch has nothing to warn about
    assert np.shares_memory(tensor.numpy(), X)  # no copy
    np.testing.assert_array_equal(tensor.numpy(), X[:, ::2].transpose(0, 2, 1))


def test_a_short_last_training_batch_joins_the_batch_before(tiny_classifier):
    # 4x4 images pooled twice reach batch norm as 1x1 maps, where torch cannot train on a
    # batch of one sample; 19 samples leave 17 for training after the 10% validation split.
    rng = np.random.default_rng(0)
    X, y = rng.random((19, 4, 4)).astype(np.float32), np.arange(19) % 2
    clf = tiny_classifier(max_epochs=1).fit(X, y)
    assert clf.history[-1, "train_batch_count"] == 1
    dataset = ImageDataset(torch.zeros(17, 1, 2, 2), torch.zeros(17))
    sizes = [len(xb) for xb, _ in BatchIterator(dataset, batch_size=16)]
    assert sizes == [17] and len(BatchIterator(dataset, batch_size=16)) == 1
    assert [len(xb) for xb, _ in BatchIterator(dataset, batch_size=16, drop_last=True)] == [16]
    # Under half a batch joins too (batch norm statistics of 2 samples are noise).
    assert [len(xb) for xb, _ in BatchIterator(dataset, batch_size=5)] == [5, 5, 7]
    assert [len(xb) for xb, _ in BatchIterator(dataset, batch_size=6)] == [6, 6, 5]
    many = ImageDataset(torch.zeros(450, 1, 2, 2), torch.zeros(450))
    sizes = [len(xb) for xb, _ in BatchIterator(many, batch_size=64, shuffle=True)]
    assert sizes == [64] * 6 + [66] and len(BatchIterator(many, batch_size=64)) == 7

