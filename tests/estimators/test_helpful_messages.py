"""Small mistakes get helpful answers: a misspelt parameter, frozen random weights, a label
that fit never saw."""

import warnings

import numpy as np
import pytest
import torch
from torchvision.models import get_model

from sk_cnn import CNNClassifier, CNNRegressor

X = np.random.default_rng(0).integers(0, 256, size=(16, 8, 8), dtype=np.uint8)
Y = np.arange(16) % 2


@pytest.mark.parametrize("Estimator", [CNNClassifier, CNNRegressor])
def test_a_misspelt_parameter_gets_the_likely_one(Estimator):
    with pytest.raises(ValueError, match=r"unexpected argument\(s\) dropout_rate\..*"
                                         r"Did you mean 'dropout' for 'dropout_rate'\?"):
        Estimator(dropout_rate=0.5, max_epochs=1, verbose=0).fit(X, Y)
    with pytest.raises(ValueError, match=r"Invalid parameter 'max_epoch'.*"
                                         r"Did you mean 'max_epochs' for 'max_epoch'\?"):
        Estimator().set_params(max_epoch=3)


def test_a_name_like_no_parameter_gets_no_guess():
    with pytest.raises(ValueError, match=r"Invalid parameter 'zzz'") as info:
        CNNClassifier().set_params(zzz=3)
    assert "Did you mean" not in str(info.value)


def test_freezing_random_weights_warns_and_pretrained_ones_do_not(tmp_path):
    images = np.zeros((4, 32, 32, 3), np.uint8)
    params = dict(backbone="resnet18", freeze="backbone", max_epochs=1, verbose=0)
    with pytest.warns(UserWarning, match=r"freeze='backbone' with weights=None freezes "
                                         r"randomly initialized layers"):
        CNNClassifier(**params).fit(images, [0, 1, 0, 1])
    torch.save(get_model("resnet18", weights=None).state_dict(), tmp_path / "resnet18.pth")
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="freeze=")
        CNNClassifier(**params, weights=tmp_path / "resnet18.pth").fit(images, [0, 1, 0, 1])


def test_labels_unseen_in_fit_warn_at_score():
    clf = CNNClassifier(max_epochs=1, verbose=0, conv_filters=(4,)).fit(X, Y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        expected = clf.score(X, Y)
        assert clf.score(X, Y.astype(float)) == expected  # 1.0 is the label 1
    with pytest.warns(UserWarning, match=r"1 label\(s\) that fit never saw \(\[7\]\)"):
        clf.score(X, np.where(Y == 1, 7, 0))
    # Strings against integers: the warning says why before scikit-learn's error.
    with pytest.warns(UserWarning, match=r"2 label\(s\) that fit never saw \(\['0', '1'\]\).*"
                                         r"knows \[0, 1\]"), \
            pytest.raises(ValueError, match="Mix of label input types"):
        clf.score(X, Y.astype(str))
