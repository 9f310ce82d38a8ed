"""How the model files beside this script were written: ``sk_cnn.save`` files of sk_cnn 0.1.0's
format, with the inputs and the outputs they gave (``expected_outputs.npz``).

They were written by the code of commit 365287f and stay as they are: tests/io/test_saved_files.py
checks that sk_cnn still loads them. Running this script again would write files of the
current code instead.
"""

from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.pipeline import Pipeline

import sk_cnn
from sk_cnn import CNNClassifier, CNNRegressor, ImageAugmenter, ImageNormalizer, ImageReshaper

HERE = Path(__file__).resolve().parent


def main():
    X, y = load_digits(return_X_y=True)
    X, y = X[:200], y[:200]
    rng = np.random.default_rng(0)
    classifier = Pipeline([
        ("reshape", ImageReshaper(image_shape=(8, 8))),
        ("norm", ImageNormalizer()),
        ("aug", ImageAugmenter(horizontal_flip="alternate", crop_padding=1)),
        ("cnn", CNNClassifier(conv_filters=(4, 8), max_epochs=2, batch_size=32, verbose=0,
                              random_state=0, classes=[str(c) for c in range(10)])),
    ]).fit(X, y.astype(str))
    signals = rng.normal(size=(60, 2, 24)).astype(np.float32)
    targets = np.stack([signals.mean(axis=(1, 2)), signals.std(axis=(1, 2))], axis=1)
    regressor = CNNRegressor(conv_filters=(4,), max_epochs=2, batch_size=16, verbose=0,
                             input_type="signal", random_state=0, criterion="huber")
    regressor.fit(signals, targets)
    images = rng.integers(0, 256, size=(40, 16, 16, 3), dtype=np.uint8)
    labels = np.arange(40) % 2
    airbench = Pipeline([
        ("norm", ImageNormalizer(dtype="float16")),
        ("cnn", CNNClassifier(architecture="airbench", conv_filters=(8, 8), activation="gelu",
                              optimizer="muon", lr=0.1, momentum=0.85, nesterov=True,
                              max_epochs=1, batch_size=20, lr_schedule="warmup_linear",
                              weight_averaging="lookahead", tta="flip", verbose=0,
                              random_state=0, validation_fraction=None,
                              mixed_precision=None)),
    ]).fit(images, labels)
    sk_cnn.save(classifier, HERE / "classifier_pipeline.safetensors")
    sk_cnn.save(regressor, HERE / "regressor.safetensors")
    sk_cnn.save(airbench, HERE / "airbench_pipeline.safetensors", include_optimizer=False)
    np.savez(HERE / "expected_outputs.npz",
             classifier_X=X[:10], classifier_proba=classifier.predict_proba(X[:10]),
             regressor_X=signals[:10], regressor_pred=regressor.predict(signals[:10]),
             airbench_X=images[:10], airbench_proba=airbench.predict_proba(images[:10]))


if __name__ == "__main__":
    main()
