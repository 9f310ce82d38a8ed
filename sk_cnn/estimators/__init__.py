"""sk_cnn's estimators, and the scikit-learn estimator checks they are expected to fail."""

from ._checks import CNN_CLASSIFIER_EXPECTED_FAILED_CHECKS, CNN_REGRESSOR_EXPECTED_FAILED_CHECKS
from ._classifier import CNNClassifier
from ._regressor import CNNRegressor

__all__ = ["CNN_CLASSIFIER_EXPECTED_FAILED_CHECKS", "CNN_REGRESSOR_EXPECTED_FAILED_CHECKS",
           "CNNClassifier", "CNNRegressor"]
