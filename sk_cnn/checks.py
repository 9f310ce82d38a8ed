"""scikit-learn estimator checks that CNNClassifier is expected to fail, with the reasons.

Pass it to scikit-learn yourself::

    from sklearn.utils.estimator_checks import check_estimator
    from sk_cnn import CNNClassifier
    from sk_cnn.checks import CNN_CLASSIFIER_EXPECTED_FAILED_CHECKS
    check_estimator(CNNClassifier(max_epochs=10, verbose=0),
                    expected_failed_checks=CNN_CLASSIFIER_EXPECTED_FAILED_CHECKS)
"""

CNN_CLASSIFIER_EXPECTED_FAILED_CHECKS = {}
