"""Hostile model files: what sk_cnn.load reads runs no code, demands no memory beyond the file's
own data, and gets a ValueError naming what it should not hold. Each case is made from a real
saved model, edited and given a valid digest, as anyone who edits a file can."""

import inspect
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from sklearn.pipeline import Pipeline

import sk_cnn
from sk_cnn import CNNClassifier, CNNRegressor, ImageNormalizer

RNG = np.random.default_rng(0)
IMAGES = RNG.integers(0, 256, (40, 8, 8, 3), dtype=np.uint8)
LABELS = np.arange(40) % 2


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A fitted classifier pipeline and a fitted regressor, saved."""
    folder = tmp_path_factory.mktemp("saved")
    pipe = Pipeline([("norm", ImageNormalizer()),
                     ("cnn", CNNClassifier(conv_filters=(4, 8), max_epochs=1, verbose=0,
                                           random_state=0))]).fit(IMAGES, LABELS)
    reg = CNNRegressor(conv_filters=(4,), max_epochs=1, verbose=0, random_state=0)
    reg.fit(IMAGES, LABELS.astype(float))
    return {"pipe": sk_cnn.save(pipe, folder / "pipe.safetensors"),
            "reg": sk_cnn.save(reg, folder / "reg.safetensors")}


def _cnn(config):
    """The configuration of the CNN in a saved pipeline (or a saved CNN)."""
    return config["pipeline"][-1][1] if "pipeline" in config else config


def _with_param(name, value):
    def edit(config):
        _cnn(config)["params"]["dict"][name] = value
    return edit


def test_compiler_options_in_a_file_run_no_command(saved, tmp_path, rewrite_model_file):
    # torch's inductor runs its "cpp.cxx" option as the compiler: such a file ran a shell
    # command at the first predict.
    marker = tmp_path / "marker"

    def compile_with_options(config):
        params = _cnn(config)["params"]["dict"]
        params["compile"] = True
        params["compile__options"] = {"dict": {"cpp.cxx": f"sh -c 'touch {marker}' --"}}

    def compiled_weight_names(tensors):  # what a compiled network's state dict holds
        for key in [k for k in tensors if k.startswith("model.cnn.module.")]:
            tensors[key.replace("module.", "module._orig_mod.", 1)] = tensors.pop(key)

    path = rewrite_model_file(saved["pipe"], tmp_path / "evil.safetensors",
                              compile_with_options, compiled_weight_names)
    with pytest.raises(ValueError, match=r"parameter compile=True: sk_cnn.load takes only "
                                         r"compile=False"):
        sk_cnn.load(path)
    assert not marker.exists()


def _load_policy_cases():
    cases = []
    for cls in (CNNClassifier, CNNRegressor):
        for name, parameter in cls._parameter_table.items():
            if cls is CNNRegressor and name in CNNClassifier._parameter_table and name not in (
                    "module", "criterion"):
                continue  # shared: tested with the classifier
            cases.append(pytest.param(cls, name, parameter.loads, id=f"{cls.__name__}-{name}"))
    return cases


@pytest.mark.parametrize("cls, name, policy", _load_policy_cases())
def test_every_parameter_has_a_load_policy_that_load_keeps(saved, tmp_path, rewrite_model_file,
                                                           cls, name, policy):
    """What load takes of each parameter: "default" parameters can reach a code path (only
    their default is taken); "value" parameters take data, never a class; "class" parameters
    also take a class of the fixed allowlist, and no other class."""
    assert policy in ("value", "class", "default")
    source = saved["pipe" if cls is CNNClassifier else "reg"]
    default = inspect.signature(cls.__init__).parameters[name].default
    if policy == "default":
        hostile = _with_param(name, not default if isinstance(default, bool) else True)
        match = rf"parameter {name}=.*sk_cnn.load takes only {name}="
    elif policy == "value":
        hostile = _with_param(name, {"class": "torch.optim.sgd.SGD"})
        match = rf"parameter {name}=.*takes no class"
    else:
        hostile = _with_param(name, {"class": "os.system"})  # not in the allowlist
        match = "os.system"
    with pytest.raises(ValueError, match=match):
        sk_cnn.load(rewrite_model_file(source, tmp_path / "hostile.safetensors", hostile))
    sk_cnn.load(source)  # the file as saved loads


@pytest.mark.parametrize("name", ["compile__mode", "module__hidden", "dataset__length",
                                  "callbacks__print_log__sink", "train_split__cv"])
def test_prefixed_options_load_takes_only_for_the_optimizer_loss_and_iterators(
        saved, tmp_path, rewrite_model_file, name):
    with pytest.raises(ValueError, match=rf"parameter '{name}' is not one sk_cnn.load takes"):
        sk_cnn.load(rewrite_model_file(saved["pipe"], tmp_path / "hostile.safetensors",
                                       _with_param(name, "x")))
    loaded = sk_cnn.load(rewrite_model_file(
        saved["pipe"], tmp_path / "options.safetensors",
        _with_param("optimizer__betas", {"tuple": [0.8, 0.9]})))
    assert loaded[-1].get_params()["optimizer__betas"] == (0.8, 0.9)  # data: taken
    with pytest.raises(ValueError, match="takes data there, not a class"):
        sk_cnn.load(rewrite_model_file(
            saved["pipe"], tmp_path / "hostile.safetensors",
            _with_param("iterator_train__collate_fn", {"class": "torch.optim.sgd.SGD"})))


def _first_weight_edited(tensors):
    key = sorted(k for k in tensors if k.startswith("model.cnn.module."))[0]
    tensors[key] = tensors[key] + 1


def test_the_digest_proves_no_origin_and_a_key_does(saved, tmp_path, rewrite_model_file):
    X = IMAGES[:5]
    # Anyone who edits a file can write the digest of the edit: it loads, and predicts other
    # values. The digest detects accidental damage only.
    edited = rewrite_model_file(saved["pipe"], tmp_path / "edited.safetensors",
                                edit_tensors=_first_weight_edited)
    assert not np.allclose(sk_cnn.load(edited).predict_proba(X),
                           sk_cnn.load(saved["pipe"]).predict_proba(X))
    # Signed with a key, a file loads with that key and no other, and no edit passes.
    pipe = sk_cnn.load(saved["pipe"])
    signed = sk_cnn.save(pipe, tmp_path / "signed.safetensors", key=b"team secret")
    np.testing.assert_array_equal(sk_cnn.load(signed, key=b"team secret").predict_proba(X),
                                  pipe.predict_proba(X))
    sk_cnn.load(signed, key="team secret")  # a str key is its UTF-8 bytes
    with pytest.raises(ValueError, match="does not verify with this key"):
        sk_cnn.load(signed, key=b"another secret")
    edited_signed = rewrite_model_file(signed, tmp_path / "edited_signed.safetensors",
                                       edit_tensors=_first_weight_edited)
    with pytest.raises(ValueError, match="changed after it was signed"):
        sk_cnn.load(edited_signed, key=b"team secret")
    with pytest.raises(ValueError, match="is not signed"):
        sk_cnn.load(saved["pipe"], key=b"team secret")
    with pytest.raises(TypeError, match="non-empty bytes or str"):
        sk_cnn.save(pipe, tmp_path / "m.safetensors", key=b"")


MEMORY_SCRIPT = """
import numpy as np, sk_cnn

def peak_mb():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM")) / 1024

sk_cnn.load({normal!r}).predict_proba(np.zeros((1, 8, 8, 3), np.uint8))  # warm up
before = peak_mb()
try:
    sk_cnn.load({large_network!r})
    print("loaded")
except ValueError as error:
    print("refused:", " ".join(str(error).split()))
sk_cnn.load({large_images!r})
print("grown:", round(peak_mb() - before))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_a_small_file_cannot_make_load_allocate_much(saved, tmp_path, rewrite_model_file):
    # conv_filters=(3000, 3000) made load allocate a 583 MB network before it failed. An
    # input_shape_ of 30000 x 30000 loads, without memory for samples of that size.
    large_network = rewrite_model_file(saved["pipe"], tmp_path / "network.safetensors",
                                       _with_param("conv_filters", {"tuple": [3000, 3000]}))

    def large_images(config):
        _cnn(config)["state"]["dict"]["input_shape_"] = {"tuple": [30000, 30000, 3]}

    large_input = rewrite_model_file(saved["pipe"], tmp_path / "images.safetensors",
                                     large_images)
    script = MEMORY_SCRIPT.format(normal=str(saved["pipe"]), large_network=str(large_network),
                                  large_images=str(large_input))
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True,
                         text=True, check=True).stdout.splitlines()
    grown = int(out[1].removeprefix("grown:"))
    assert grown < 100, f"load's peak memory grew by {grown} MB"
    assert out[0].startswith("refused:") and "does not fit the weights" in out[0]


@pytest.mark.parametrize("edit, match", [
    (lambda c: _cnn(c).update(state=["input_shape_"]), "not a mapping"),
    (lambda c: _cnn(c)["state"]["dict"].update(validation_seed_={"scalar": 300, "dtype": "|u1"}),
     "cannot rebuild it"),
    (lambda c: _cnn(c)["state"]["dict"].update(predict={"tuple": [1]}),
     "fitted attribute 'predict' is not one sk_cnn.load sets"),
    (lambda c: c["pipeline"][0][1]["state"]["dict"].update(transform=1),
     "fitted attribute 'transform' is not one sk_cnn.load sets"),
    (lambda c: c["pipeline"][0].__setitem__(0, "a__b"), "step names are strings without"),
    (lambda c: _cnn(c).update(history='{"epoch": 1}'), "history is not a list"),
    (lambda c: _cnn(c)["state"]["dict"].update(layout_="sideways"), "layout_='sideways'"),
    (lambda c: _cnn(c)["state"]["dict"].update(input_shape_={"tuple": [0, 8]}),
     "input_shape_=.* is no sample shape"),
    (lambda c: _cnn(c)["params"]["dict"].update(batch_size=0), "'batch_size' parameter"),
], ids=["state-list", "scalar-range", "method-shadowed", "step-method-shadowed",
        "step-name", "history", "layout", "input-shape", "batch-size"])
def test_odd_values_in_a_file_get_a_value_error(saved, tmp_path, rewrite_model_file, edit,
                                                match):
    with pytest.raises(ValueError, match=match):
        sk_cnn.load(rewrite_model_file(saved["pipe"], tmp_path / "odd.safetensors", edit))
