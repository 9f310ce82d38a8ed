"""ImageAugmenter and its contract with the estimator: the mark, carried to fit and read once."""

import pickle
import warnings

import numpy as np
import pytest
import torch

from sk_cnn import CNNClassifier, ImageAugmenter, ImageNormalizer
from sk_cnn.preprocessing._augmentation import (
    AugmentationSpec,
    AugmentedArray,
    take_augmentation,
)

RNG = np.random.default_rng(0)


def test_augmenter_transform_is_identity_and_fit_transform_marks():
    X = RNG.random((6, 8, 8))
    aug = ImageAugmenter(horizontal_flip=False, crop_padding=1, brightness=0.1)
    marked = aug.fit_transform(X)
    np.testing.assert_array_equal(marked, X)
    assert np.shares_memory(marked, X)
    assert marked.augmentation.crop_padding == 1 and marked.augmentation.brightness == 0.1
    plain = aug.transform(X)
    np.testing.assert_array_equal(plain, X)
    assert getattr(plain, "augmentation", None) is None


def test_reflect_padding_larger_than_the_images_is_refused_by_fit():
    X = np.zeros((8, 3, 3), dtype=np.float32)
    marked = ImageAugmenter(crop_padding=3, padding_mode="reflect").fit_transform(X)
    with pytest.raises(ValueError, match="crop_padding smaller than the images"):
        CNNClassifier(max_epochs=1, verbose=0).fit(marked, np.arange(8) % 2)
    with pytest.raises(ValueError, match="padding_mode"):
        ImageAugmenter(padding_mode="wrap").fit(X)


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



def test_a_step_that_drops_the_mark_gets_a_warning(tiny_images, tiny_classifier):
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    X, y = tiny_images
    dropping = Pipeline([("aug", ImageAugmenter(crop_padding=1)),
                         ("plain", FunctionTransformer(np.asarray)),  # returns a plain array
                         ("cnn", tiny_classifier(max_epochs=1))])
    with pytest.warns(UserWarning, match="a step between them returned a plain array, so this "
                                         "fit trains without augmentation"):
        dropping.fit(X, y)
    keeping = Pipeline([("aug", ImageAugmenter(crop_padding=1)), ("norm", ImageNormalizer()),
                        ("cnn", tiny_classifier(max_epochs=1))])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        keeping.fit(X, y)  # sk_cnn's transformers keep the mark
        ImageAugmenter().fit_transform(X[:10])
        tiny_classifier(max_epochs=1).fit(X, y)  # other data: not the marked samples
        tiny_classifier(max_epochs=1).fit(X, y)  # the mark is read once, then forgotten
