"""Batched augmentation: per-sample random parameters, as the spec says."""

import pytest
import torch

from sk_cnn import AugmentationSpec
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


def test_alternating_flip_mask_alternates_from_the_first_epoch():
    first = torch.tensor([True, False, False, True])
    indices = torch.tensor([3, 1, 2])
    assert alternating_flip_mask(first, indices, 1).tolist() == [True, False, False]
    assert alternating_flip_mask(first, indices, 2).tolist() == [False, True, True]
    assert alternating_flip_mask(first, indices, 3).tolist() == [True, False, False]


def test_noise_and_scaling_are_per_sample_and_seeded():
    X = torch.ones(64, 2, 100)
    spec = AugmentationSpec(horizontal_flip=False, crop_padding=0, scaling=0.5)
    scaled = augment_batch(X, spec, torch.Generator().manual_seed(0))
    factors = scaled[:, 0, 0]
    assert torch.allclose(scaled, factors[:, None, None].expand_as(X))  # one factor per sample
    assert factors.min() >= 0.5 and factors.max() <= 1.5 and factors.std() > 0.1
    spec = AugmentationSpec(horizontal_flip=False, crop_padding=0, noise=0.3)
    noisy = augment_batch(X, spec, torch.Generator().manual_seed(0))
    assert abs(float((noisy - X).std()) - 0.3) < 0.01
    assert abs(float((noisy - X).mean())) < 0.01
    again = augment_batch(X, spec, torch.Generator().manual_seed(0))
    assert torch.equal(noisy, again)
    assert X.eq(1).all()  # the input batch is not modified

