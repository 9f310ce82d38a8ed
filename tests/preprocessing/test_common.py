"""What every image transformer does alike: unfitted, bad parameters, NaN, set_output."""

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler

from sk_cnn import CNNClassifier, ImageAugmenter, ImageLoader, ImageNormalizer, ImageReshaper

RNG = np.random.default_rng(0)


@pytest.mark.parametrize("transformer", [ImageReshaper(), ImageNormalizer(), ImageAugmenter()])
def test_transformers_not_fitted(transformer):
    with pytest.raises(NotFittedError):
        transformer.transform(RNG.random((2, 4, 4)))


@pytest.mark.parametrize("transformer, message", [
    (ImageAugmenter(crop_padding=-1), "'crop_padding' parameter"),
    (ImageAugmenter(rotation=500), "'rotation' parameter"),
    (ImageAugmenter(contrast=2.0), "'contrast' parameter"),
    (ImageNormalizer(mean="imagenette"), "'mean' parameter"),
    (ImageNormalizer(channels="middle"), "'channels' parameter"),
    (ImageReshaper(image_shape=(0, 64)), "positive sizes"),
])
def test_transformer_bad_parameters(transformer, message):
    with pytest.raises(ValueError, match=message):
        transformer.fit(RNG.random((2, 64)))


@pytest.mark.parametrize("transformer", [ImageReshaper(), ImageNormalizer(), ImageAugmenter()])
def test_transformers_refuse_nan(transformer):
    X = RNG.random((3, 16))
    X[1, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        transformer.fit(X)


def test_set_output_is_accepted_and_images_stay_arrays():
    pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    X, y = rng.random((40, 64)), np.arange(40) % 2
    pipe = make_pipeline(MinMaxScaler(), ImageReshaper((8, 8)), ImageNormalizer(),
                         ImageAugmenter(horizontal_flip=True),
                         CNNClassifier(conv_filters=(4,), max_epochs=1, verbose=0))
    pipe.set_output(transform="pandas")  # scikit-learn refused: no set_output on the steps
    pipe.fit(X, y)
    assert type(pipe[0].transform(X)).__name__ == "DataFrame"  # the tabular step follows
    assert type(pipe[:-1].transform(X)) is np.ndarray and pipe[:-1].transform(X).shape == (40, 8, 8)
    assert pipe.predict(X).shape == (40,)
    assert type(ImageLoader().set_output(transform="polars")) is ImageLoader
    with pytest.raises(ValueError, match="transform must be one of"):
        ImageNormalizer().set_output(transform="dataframe")

