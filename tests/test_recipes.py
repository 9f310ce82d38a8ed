"""sk_cnn.recipes: the airbench recipe's parameters, on the CPU and on a GPU."""

import pytest
from sklearn.base import clone
from sklearn.utils._param_validation import InvalidParameterError

from sk_cnn import CNNClassifier
from sk_cnn.recipes import airbench_params


# ------------------------------------------------------------------ estimator
def test_recipe_params_are_explicit_and_clone():
    clf = CNNClassifier(**airbench_params(max_epochs=7))
    params = clf.get_params()
    for name, value in airbench_params(max_epochs=7).items():
        assert params[name] == value
    assert CNNClassifier().get_params()["architecture"] == "plain"
    assert CNNClassifier().get_params()["weight_averaging"] is None
    # airbench94's lr 11.5 per 1024 examples of a summed loss with Nesterov momentum 0.85,
    # for a mean loss over the recipe's batches; its weight decay 0.0153 relative to that lr
    recipe = airbench_params()
    assert recipe["lr"] * 1024 / recipe["batch_size"] == pytest.approx(11.5 / (1 + 1 / 0.15))
    assert recipe["weight_decay"] == pytest.approx(0.0153 / 11.5, rel=1e-5)
    copy = clone(clf.set_params(architecture="plain", tta="flip"))
    assert copy.get_params()["architecture"] == "plain"
    assert copy.get_params()["tta"] == "flip"
    assert copy.get_params()["lr_schedule"] == "warmup_linear"


def test_gpu_recipe_scales_the_cpu_recipe_to_batches_of_1024():
    cpu, gpu = airbench_params(), airbench_params(device="cuda")
    assert (gpu["batch_size"], gpu["conv_filters"], gpu["max_epochs"]) == (1024, (64, 256, 256), 10)
    assert gpu["lr"] / cpu["lr"] == pytest.approx(gpu["batch_size"] / cpu["batch_size"])
    assert gpu["weight_decay"] == cpu["weight_decay"]
    assert gpu["device"] == "cuda" and "device" not in cpu
    assert gpu["optimizer__muon_lr"] == 0.12 and "optimizer__muon_lr" not in cpu
    assert airbench_params(max_epochs=4, device="cuda")["max_epochs"] == 4
    params = CNNClassifier(**gpu).get_params()
    assert params["optimizer__muon_lr"] == 0.12 and params["device"] == "cuda"
    with pytest.raises(ValueError, match='"cpu" or "cuda"'):
        airbench_params(device="auto")


def test_gpu_recipe_trains_where_its_device_is_overridden(tiny_images):
    X, y = tiny_images
    params = {**airbench_params(max_epochs=3, device="cuda"), "conv_filters": (8, 16),
              "batch_size": 16, "device": "cpu", "verbose": 0, "random_state": 0}
    clf = CNNClassifier(**params).fit(X, y)
    filters = [g for g in clf.optimizer_.param_groups if g.get("muon")]
    assert filters and all(g["initial_lr"] == 0.12 for g in filters)


@pytest.mark.parametrize("params,error", [
    ({"architecture": "resnet"}, InvalidParameterError),
    ({"weight_averaging": "ema"}, InvalidParameterError),
    ({"tta": "translate"}, InvalidParameterError),
    ({"lr_schedule": "warmup"}, InvalidParameterError),
    ({"backbone": "resnet18"}, ValueError),
])
def test_invalid_recipe_params(tiny_images, params, error, tiny_airbench):
    X, y = tiny_images
    with pytest.raises(error):
        tiny_airbench(**params).fit(X, y)

