"""Batched augmentation: per-sample randomness, exact semantics, and training-only application."""

import pickle

import numpy as np
import pytest
import torch

from sk_cnn import ImageAugmenter, ImageNormalizer
from sk_cnn.preprocessing._augmentation import (
    AugmentationSpec,
    AugmentedArray,
    take_augmentation,
)
from sk_cnn.training._augment import (
    alternating_flip_mask,
    augment_batch,
    random_flip,
    random_rotate,
    random_translate,
)


def _batch(n=64, c=3, h=10, w=10):
    return torch.arange(n * c * h * w, dtype=torch.float32).reshape(n, c, h, w)


def test_flip_is_drawn_per_sample():
    X = _batch()
    out = random_flip(X, -1, torch.Generator().manual_seed(0))
    flipped = [torch.equal(out[i], X[i].flip(-1)) for i in range(len(X))]
    kept = [torch.equal(out[i], X[i]) for i in range(len(X))]
    assert all(f or k for f, k in zip(flipped, kept))
    assert 10 < sum(flipped) < 54  # about half of 64, not all or none


@pytest.mark.parametrize("mode", ["constant", "reflect"])
def test_translate_matches_a_padded_crop_per_sample(mode):
    X = _batch(n=32)
    pad = 2
    out = random_translate(X, pad, torch.Generator().manual_seed(0), mode)
    padded = torch.nn.functional.pad(X, (pad,) * 4, mode=mode)
    offsets = set()
    for i in range(len(X)):
        matches = [(dy, dx) for dy in range(2 * pad + 1) for dx in range(2 * pad + 1)
                   if torch.equal(out[i], padded[i, :, dy:dy + 10, dx:dx + 10])]
        assert len(matches) == 1
        offsets.add(matches[0])
    assert len(offsets) > 5  # different samples get different crops


def test_translate_signals():
    X = torch.arange(1, 32 * 2 * 20 + 1, dtype=torch.float32).reshape(32, 2, 20)
    out = augment_batch(X, AugmentationSpec(horizontal_flip=False, crop_padding=3),
                        torch.Generator().manual_seed(1))
    assert out.shape == X.shape
    padded = torch.nn.functional.pad(X, (3, 3))
    offsets = []
    for i in range(len(X)):
        matches = [d for d in range(7) if torch.equal(out[i], padded[i, :, d:d + 20])]
        assert len(matches) == 1, f"sample {i} is not a shifted crop of its padded signal"
        offsets.append(matches[0])
    assert len(set(offsets)) >= 4  # shifts drawn per sample, in both directions
    assert min(offsets) < 3 < max(offsets)


def test_reflect_translate_mirrors_the_border_instead_of_zeros():
    X = _batch(n=64) + 1  # no zero anywhere
    out = random_translate(X, 2, torch.Generator().manual_seed(0), "reflect")
    assert (out != 0).all()
    assert (random_translate(X, 2, torch.Generator().manual_seed(0)) == 0).any()
    signal = torch.arange(1, 21, dtype=torch.float32).repeat(8, 2, 1)  # (8, 2, 20)
    shifted = random_translate(signal, 3, torch.Generator().manual_seed(1), "reflect")
    padded = torch.nn.functional.pad(signal, (3, 3), mode="reflect")
    for i in range(len(signal)):
        assert any(torch.equal(shifted[i], padded[i, :, d:d + 20]) for d in range(7))


def test_reflect_padding_larger_than_the_images_is_refused_by_fit():
    from sk_cnn import CNNClassifier

    X = np.zeros((8, 3, 3), dtype=np.float32)
    marked = ImageAugmenter(crop_padding=3, padding_mode="reflect").fit_transform(X)
    with pytest.raises(ValueError, match="crop_padding smaller than the images"):
        CNNClassifier(max_epochs=1, verbose=0).fit(marked, np.arange(8) % 2)
    with pytest.raises(ValueError, match="padding_mode"):
        ImageAugmenter(padding_mode="wrap").fit(X)


def test_augment_batch_keeps_input_and_returns_channels_last():
    X = _batch().contiguous(memory_format=torch.channels_last)
    before = X.clone()
    spec = AugmentationSpec(vertical_flip=True, rotation=10, brightness=0.1, contrast=0.2)
    out = augment_batch(X, spec, torch.Generator().manual_seed(0))
    assert torch.equal(X, before)
    assert out.shape == X.shape and out.dtype == X.dtype
    assert out.is_contiguous(memory_format=torch.channels_last)
    assert not torch.equal(out, X)


def test_same_generator_seed_same_augmentation():
    X = _batch()
    spec = AugmentationSpec(vertical_flip=True, crop_padding=2, rotation=15, brightness=0.2,
                            contrast=0.2, noise=0.1, scaling=0.2)
    a = augment_batch(X, spec, torch.Generator().manual_seed(3))
    b = augment_batch(X, spec, torch.Generator().manual_seed(3))
    c = augment_batch(X, spec, torch.Generator().manual_seed(4))
    assert torch.equal(a, b)
    assert not torch.equal(a, X)
    assert not torch.equal(a, c), "another seed must draw other augmentations"
    differs = [not torch.equal(a[i], c[i]) for i in range(len(X))]
    assert all(differs)  # per sample (the noise alone differs everywhere)


def _only(**setting):
    """A spec with nothing but ``setting`` (no default flip or crop)."""
    return AugmentationSpec(**{"horizontal_flip": False, "crop_padding": 0, **setting})


def test_brightness_adds_one_offset_per_image_within_its_range():
    X = torch.rand(64, 3, 6, 6, generator=torch.Generator().manual_seed(0))
    out = augment_batch(X, _only(brightness=0.3), torch.Generator().manual_seed(0))
    offset = (out - X).flatten(1)
    # One offset per image, the same for all its values.
    torch.testing.assert_close(offset, offset[:, :1].expand_as(offset), atol=1e-6, rtol=0)
    offset = offset[:, 0]
    assert (offset.abs() <= 0.3 + 1e-6).all()
    assert offset.min() < -0.2 and offset.max() > 0.2  # the range is used, both signs
    assert len(torch.unique(offset)) == len(X)


def test_contrast_scales_each_image_around_its_own_mean():
    X = torch.rand(64, 3, 6, 6, generator=torch.Generator().manual_seed(0))
    X = X + torch.arange(64.0).view(64, 1, 1, 1)  # means that differ from image to image
    out = augment_batch(X, _only(contrast=0.4), torch.Generator().manual_seed(0))
    mean = X.mean(dim=(1, 2, 3), keepdim=True)
    torch.testing.assert_close(out.mean(dim=(1, 2, 3), keepdim=True), mean)
    deviation = X - mean
    factor = ((out - mean) * deviation).sum(dim=(1, 2, 3)) / (deviation ** 2).sum(dim=(1, 2, 3))
    # One factor per image, for all its values.
    torch.testing.assert_close(out, mean + factor.view(-1, 1, 1, 1) * deviation,
                               atol=1e-4, rtol=0)
    assert ((factor >= 0.6 - 1e-4) & (factor <= 1.4 + 1e-4)).all()
    assert factor.min() < 0.7 and factor.max() > 1.3  # the range is used, both ways
    assert len(torch.unique(factor)) == len(X)


def test_vertical_flip_turns_images_upside_down_per_sample():
    X = _batch()
    out = augment_batch(X, _only(vertical_flip=True), torch.Generator().manual_seed(0))
    flipped = [torch.equal(out[i], X[i].flip(-2)) for i in range(len(X))]
    kept = [torch.equal(out[i], X[i]) for i in range(len(X))]
    assert all(f or k for f, k in zip(flipped, kept))
    assert 10 < sum(flipped) < 54  # about half of 64, not all or none


def _line_angles(images):
    """Orientation in degrees (in (-90, 90]) of the bright line in each image."""
    h, w = images.shape[-2:]
    rows, cols = torch.meshgrid(torch.arange(float(h)), torch.arange(float(w)), indexing="ij")
    mass = images.sum(dim=(1, 2))
    r = (images * rows).sum(dim=(1, 2)) / mass
    c = (images * cols).sum(dim=(1, 2)) / mass
    dr, dc = rows - r[:, None, None], cols - c[:, None, None]
    crr = (images * dr * dr).sum(dim=(1, 2))
    ccc = (images * dc * dc).sum(dim=(1, 2))
    crc = (images * dr * dc).sum(dim=(1, 2))
    return torch.rad2deg(0.5 * torch.atan2(2 * crc, ccc - crr))


def test_rotation_angles_span_the_configured_range_and_no_more():
    X = torch.zeros(64, 1, 33, 33)
    X[:, :, 16, 4:29] = 1.0  # a horizontal line through the centre
    torch.testing.assert_close(_line_angles(X[:, 0]), torch.zeros(64))
    out = augment_batch(X, _only(rotation=30.0), torch.Generator().manual_seed(0))
    angles = _line_angles(out[:, 0])
    assert (angles.abs() <= 30.5).all(), angles.abs().max()
    assert angles.min() < -25 and angles.max() > 25  # near the maximum, both ways
    assert len(torch.unique(angles.round(decimals=2))) > 50  # drawn per image


def test_marked_array_is_a_zero_copy_view_that_pickles():
    X = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    spec = AugmentationSpec(crop_padding=1)
    marked = AugmentedArray(X, spec)
    assert np.shares_memory(marked, X)
    assert (marked * 2).augmentation == spec  # numpy operations keep the mark
    restored = pickle.loads(pickle.dumps(marked))
    assert restored.augmentation == spec
    np.testing.assert_array_equal(restored, X)
    plain, found = take_augmentation(marked, "CNNClassifier")
    assert type(plain) is np.ndarray and found == spec
    unmarked = pickle.loads(pickle.dumps(X.view(AugmentedArray)))  # a view without a mark
    assert unmarked.augmentation is None


def test_rotation_is_rigid_on_images_that_are_not_square():
    # A bright pixel 6 pixels right of the centre of 24x48 images stays 6 pixels from the
    # centre whatever the angle (affine_grid's normalized coordinates stretched it before).
    X = torch.zeros(16, 1, 24, 48)
    X[:, :, 11:13, 29:31] = 1.0  # centred on (12, 30); the image centre is (12, 24)
    rotated = random_rotate(X, 90.0, torch.Generator().manual_seed(0))
    rows, cols = torch.meshgrid(torch.arange(24.0), torch.arange(48.0), indexing="ij")
    mass = rotated[:, 0].sum(dim=(1, 2))
    row = (rotated[:, 0] * rows).sum(dim=(1, 2)) / mass
    col = (rotated[:, 0] * cols).sum(dim=(1, 2)) / mass
    distance = ((row - 11.5) ** 2 + (col - 23.5) ** 2).sqrt()
    torch.testing.assert_close(distance, torch.full((16,), 6.0), atol=0.1, rtol=0)


def test_sk_cnn_transformers_after_the_augmenter_keep_the_mark():
    X = np.random.default_rng(0).random((10, 6, 6, 3)).astype(np.float32)
    marked = ImageAugmenter().fit_transform(X)
    normalized = ImageNormalizer().fit_transform(marked)
    assert normalized.augmentation == marked.augmentation
    assert not hasattr(ImageNormalizer().fit(X).transform(X), "augmentation")


class InputRecorder:
    """Forward pre-hook storing (training mode, input batch) for every network call."""

    def __init__(self):
        self.calls = []

    def __call__(self, module, args):
        self.calls.append((module.training, args[0].detach().clone()))


def test_training_batches_are_augmented_freshly_and_nothing_else_is(tiny_images,
                                                                     tiny_classifier):
    X, y = tiny_images
    X = (X.astype(np.float32) / 255).transpose(0, 3, 1, 2).copy()  # float, channels-first
    X_marked = ImageAugmenter(horizontal_flip=True, crop_padding=2).fit_transform(X)
    clf = tiny_classifier(max_epochs=2, batch_size=64, validation_fraction=0.25,
                          iterator_train__shuffle=False)
    recorder = InputRecorder()
    clf.initialize_module = _hook_after(clf.initialize_module, clf, recorder)
    clf.fit(X_marked, y)

    raw = {X[i].tobytes(): i for i in range(len(X))}
    train = [batch for training, batch in recorder.calls if training]
    valid = [batch for training, batch in recorder.calls if not training]
    assert len(train) == 2 and len(valid) == 2  # one batch of each per epoch

    epoch1, epoch2 = train
    assert epoch1.shape == (48, 3, 12, 12)
    assert not torch.equal(epoch1, epoch2), "epochs 1 and 2 must get different augmentation"
    changed = [x.cpu().numpy().tobytes() not in raw for x in epoch1]
    assert sum(changed) > 24, "most training images should be changed"

    for batch in valid:  # exactly the un-augmented images of the validation split
        for x in batch:
            assert np.ascontiguousarray(x.cpu().numpy()).tobytes() in raw
    assert len({np.ascontiguousarray(x.cpu().numpy()).tobytes() for x in valid[0]}) == 16

    recorder.calls.clear()
    clf.predict_proba(X)
    predicted = torch.cat([batch for _, batch in recorder.calls])
    np.testing.assert_array_equal(predicted.cpu().numpy(), X)


@pytest.mark.parametrize("augmenter_seed", [None, 0])
def test_each_partial_fit_call_draws_new_augmentation(tiny_images, tiny_classifier,
                                                      augmenter_seed):
    # Each call used to reseed with the same seeds, so a partial_fit loop replayed one epoch.
    X, y = tiny_images
    X = (X.astype(np.float32) / 255).transpose(0, 3, 1, 2).copy()
    marked = ImageAugmenter(crop_padding=2, random_state=augmenter_seed).fit_transform(X)
    clf = tiny_classifier(max_epochs=1, batch_size=64, validation_fraction=None,
                          iterator_train__shuffle=False)
    recorder = InputRecorder()
    clf.initialize_module = _hook_after(clf.initialize_module, clf, recorder)
    clf.fit(marked, y)
    for _ in range(2):
        clf.partial_fit(marked, y)
    epochs = [batch for training, batch in recorder.calls if training]
    assert len(epochs) == 3
    assert not any(torch.equal(epochs[i], epochs[j]) for i, j in [(0, 1), (0, 2), (1, 2)])


def test_alternating_flip_mask_alternates_from_the_first_epoch():
    first = torch.tensor([True, False, False, True])
    indices = torch.tensor([3, 1, 2])
    assert alternating_flip_mask(first, indices, 1).tolist() == [True, False, False]
    assert alternating_flip_mask(first, indices, 2).tolist() == [False, True, True]
    assert alternating_flip_mask(first, indices, 3).tolist() == [True, False, False]


def test_alternating_flip_shows_every_image_both_ways_in_two_epochs(tiny_images,
                                                                     tiny_classifier):
    X, y = tiny_images
    X = (X.astype(np.float32) / 255).transpose(0, 3, 1, 2).copy()  # float, channels-first
    marked = ImageAugmenter(horizontal_flip="alternate", crop_padding=0).fit_transform(X)
    # shuffled batches; the schedule and the averaging ask for training iterators of their own
    clf = tiny_classifier(max_epochs=3, batch_size=16, validation_fraction=None,
                          lr_schedule="warmup_linear", weight_averaging="lookahead")
    recorder = InputRecorder()
    clf.initialize_module = _hook_after(clf.initialize_module, clf, recorder)
    clf.fit(marked, y)

    plain = {X[i].tobytes(): i for i in range(len(X))}
    mirrored = {np.ascontiguousarray(X[i][..., ::-1]).tobytes(): i for i in range(len(X))}
    seen = []  # per epoch: {sample: flipped?}
    batches = [batch for training, batch in recorder.calls if training]
    for epoch in range(3):
        flipped = {}
        for batch in batches[epoch * 4:(epoch + 1) * 4]:
            for x in batch:
                key = np.ascontiguousarray(x.cpu().numpy()).tobytes()
                if key in plain:
                    flipped[plain[key]] = False
                else:
                    flipped[mirrored[key]] = True
        assert len(flipped) == len(X)
        seen.append(flipped)
    assert 16 < sum(seen[0].values()) < 48  # about half flipped in the first epoch
    assert all(seen[1][i] != seen[0][i] for i in range(len(X)))  # the other way in epoch 2
    assert seen[2] == seen[0]
    assert clf.augmentation_ is None and clf._train_iterator_ is None  # released after fit
    # A partial_fit on the same data goes on alternating: epoch 4 mirrors epoch 3.
    recorder.calls.clear()
    clf.set_params(max_epochs=1).partial_fit(marked, y)
    epoch4 = {}
    for batch in [batch for training, batch in recorder.calls if training]:
        for x in batch:
            key = np.ascontiguousarray(x.cpu().numpy()).tobytes()
            epoch4[plain[key] if key in plain else mirrored[key]] = key not in plain
    assert all(epoch4[i] != seen[2][i] for i in range(len(X)))


def test_alternating_flip_needs_the_batch_iterator(tiny_images, tiny_classifier):
    X, y = tiny_images
    marked = ImageAugmenter(horizontal_flip="alternate").fit_transform(X)
    clf = tiny_classifier(iterator_train=torch.utils.data.DataLoader)
    with pytest.raises(ValueError, match="BatchIterator"):
        clf.fit(marked, y)
    with pytest.raises(ValueError, match="horizontal_flip"):
        ImageAugmenter(horizontal_flip="sometimes").fit(X)


def _hook_after(initialize_module, clf, recorder):
    def wrapped():
        result = initialize_module()
        clf.module_.register_forward_pre_hook(recorder)
        return result
    return wrapped


@pytest.mark.parametrize("spec", [dict(vertical_flip=True), dict(rotation=5.0)])
def test_image_only_augmentations_refuse_signals(spec):
    with pytest.raises(ValueError, match="need images"):
        ImageAugmenter(**spec).fit(np.zeros((4, 20)))
