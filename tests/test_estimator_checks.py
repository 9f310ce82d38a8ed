"""scikit-learn's own estimator checks over every sk_cnn estimator."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from sk_cnn import CNNClassifier, CNNRegressor, ImageAugmenter, ImageNormalizer, ImageReshaper
from sk_cnn.estimators import (
    CNN_CLASSIFIER_EXPECTED_FAILED_CHECKS,
    CNN_REGRESSOR_EXPECTED_FAILED_CHECKS,
)


def _expected_failed_checks(estimator):
    if isinstance(estimator, CNNClassifier):
        return CNN_CLASSIFIER_EXPECTED_FAILED_CHECKS
    if isinstance(estimator, CNNRegressor):
        return CNN_REGRESSOR_EXPECTED_FAILED_CHECKS
    return {}


@parametrize_with_checks(
    [
        ImageReshaper(),
        ImageNormalizer(),
        ImageAugmenter(),
        # Small and quick, but 10 epochs: check_classifiers_train wants > 0.83 training accuracy.
        CNNClassifier(conv_filters=(8, 16), max_epochs=10, batch_size=32, verbose=0),
        CNNRegressor(conv_filters=(8, 16), max_epochs=10, batch_size=32, verbose=0),
    ],
    expected_failed_checks=_expected_failed_checks,
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
