"""The sk-cnn command line, end to end in subprocesses and in-process, on tiny image trees."""

import csv
import errno
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pytest
from PIL import Image
from sklearn.pipeline import Pipeline, make_pipeline

import sk_cnn
from sk_cnn import CNNClassifier, ImageLoader, ImageNormalizer
from sk_cnn.cli import _commands as cli_commands
from sk_cnn.cli import _models as cli_models
from sk_cnn.cli import _output as cli_output
from sk_cnn.cli import build_parser, main
from sk_cnn.cli._main import estimator_defaults
from sk_cnn.datasets import find_images, load_image_folder

REPO = Path(__file__).resolve().parents[2]


def _write_tree(root, n_per_class, seed=0, size=(10, 10)):
    """dark/ and bright/ class folders of PNG and JPEG files, some grayscale or RGBA."""
    rng = np.random.default_rng(seed)
    for label, level in (("dark", 40), ("bright", 210)):
        (root / label).mkdir(parents=True, exist_ok=True)
        for i in range(n_per_class):
            rgb = np.clip(rng.normal(level, 20, size + (3,)), 0, 255).astype(np.uint8)
            image = Image.fromarray(rgb)
            if i % 4 == 1:
                image = image.convert("L")
            elif i % 4 == 2:
                image = image.convert("RGBA")
            image.save(root / label / f"{i:02d}.{'jpg' if i % 4 == 3 else 'png'}")
    return root


def _run(*args, cwd):
    """Run ``python -m sk_cnn.cli`` from this checkout (no installation needed)."""
    path = os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
    # Tiny models: one torch thread is fastest, and does not fight other jobs for the cores.
    env = {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "sk_cnn.cli", *map(str, args)], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tree of tiny images and a model trained on it by ``sk-cnn train`` in a subprocess."""
    root = tmp_path_factory.mktemp("cli")
    _write_tree(root / "train", 12, seed=0)
    _write_tree(root / "test", 4, seed=1)
    # Output to pipes, as in a redirected log; -v adds the per-batch progress bar.
    result = _run("train", root / "train", "--epochs", "2", "--batch-size", "8", "--seed", "0",
                  "-v", cwd=root)  # to model.safetensors, the default
    return root, result


def test_train_prints_progress_and_saves_an_sk_cnn_pipeline(trained):
    root, result = trained
    assert result.returncode == 0, result.stderr
    assert "Found 24 images of 2 classes" in result.stdout
    assert "valid_acc" in result.stdout  # skorch's per-epoch table
    line = next(ln for ln in result.stdout.splitlines() if ln.startswith("validation accuracy"))
    assert float(line.split()[2]) >= 0.66  # measured 1.0 on its 3 images (chance: 0.5)
    model = sk_cnn.load(root / "model.safetensors")  # pickle-free
    # It learned the classes: clearly above chance (0.5) on the test tree (measured 1.0).
    paths, labels = load_image_folder(root / "test")
    assert model.score(paths, labels) >= 0.75
    assert isinstance(model, Pipeline) and isinstance(model.steps[0][1], ImageLoader)
    assert [name for name, _ in model.steps] == ["load", "norm", "aug", "cnn"]
    assert model["load"].size == (10, 10)  # new images are resized to the training size
    assert sorted(model.classes_.tolist()) == ["bright", "dark"]


def test_train_verbose_shows_a_progress_bar_and_no_colour_codes_in_a_pipe(trained):
    _, result = trained
    assert result.returncode == 0, result.stderr
    # tqdm's bar on stderr, over the batches of an epoch: 3 training batches (21 images, 8
    # per batch) and 1 validation batch (3 images). How far it is drawn depends on the
    # speed (tqdm redraws at most every 0.1 s).
    assert re.search(r"\d/4 \[", result.stderr), result.stderr
    # skorch's table colours the best scores; not in a file or a pipe.
    assert "\x1b[" not in result.stdout + result.stderr
    assert "valid_loss" in result.stdout and "train_loss" in result.stdout  # the table


def test_progress_bar_only_with_verbose(tmp_path, capsys):
    _write_tree(tmp_path / "data", 4)
    for flag, shown in ((), False), (("-v",), True), (("--verbose",), True):
        status, _, err = _main(capsys, "train", tmp_path / "data", "--epochs", "1",
                               "--out", tmp_path / "m.safetensors", *flag)
        assert status == 0, err
        assert bool(re.search(r"\d+/\d+ \[", err)) == shown, err
    status, _, err = _main(capsys, "demo", "--epochs", "1", "-v")
    assert status == 0 and re.search(r"\d+/\d+ \[", err), err


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_colour_codes_only_on_a_terminal_without_no_color(monkeypatch):
    coloured = "\x1b[36m0.5000\x1b[0m\n"
    for terminal, no_color, kept in [(True, None, True), (True, "1", False),
                                     (False, None, False), (True, "", True)]:
        stream = _Terminal() if terminal else io.StringIO()
        if no_color is None:
            monkeypatch.delenv("NO_COLOR", raising=False)
        else:
            monkeypatch.setenv("NO_COLOR", no_color)
        monkeypatch.setattr(sys, "stdout", stream)
        with cli_output.plain_streams():
            print(coloured, end="")
            sys.stdout.writelines([coloured])
        assert sys.stdout is stream  # put back
        assert stream.getvalue() == (coloured * 2 if kept else "0.5000\n" * 2)


def _closed_pipe_run(*args, cwd, buffered):
    """Run ``python -m sk_cnn.cli`` with stdout a pipe whose reader has already gone, as in
    ``sk-cnn ... | head -1`` once head has its line. Buffered, the error comes when the
    output is flushed; unbuffered, at the first write."""
    read, write = os.pipe()
    os.close(read)
    try:
        env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
        env.pop("PYTHONUNBUFFERED", None)
        if not buffered:
            env["PYTHONUNBUFFERED"] = "1"
        return subprocess.run([sys.executable, "-m", "sk_cnn.cli", *map(str, args)],
                              cwd=cwd, env=env, stdout=write, stderr=subprocess.PIPE,
                              text=True, timeout=300)
    finally:
        os.close(write)


def test_a_closed_pipe_ends_quietly_with_status_141(trained):
    root, _ = trained
    predict = ["predict", root / "model.safetensors", root / "test"]
    evaluate = ["evaluate", root / "model.safetensors", root / "test", "--no-plot"]
    # No traceback, no "Exception ignored" at exit. Buffered, predict's CSV fails only when
    # flushed, after its line on stderr.
    for args, buffered, stderr in [(predict, True, "predicted 8 image(s)\n"),
                                   (predict, False, ""), (evaluate, True, "")]:
        result = _closed_pipe_run(*args, cwd=root, buffered=buffered)
        assert (result.returncode, result.stderr) == (141, stderr)


def test_flip_and_shift_switches(tmp_path, capsys):
    parser = build_parser()
    for argv, step in [
            (["train", "d"], ("aug", True, 4)),
            (["train", "d", "--no-flip", "--shift", "3"], ("aug", False, 3)),
            (["train", "d", "--no-flip", "--no-shift"], None),
            (["train", "d", "--no-augment"], None),
            (["demo"], ("aug", False, 1)),
            (["demo", "--flip", "--shift", "2"], ("aug", True, 2)),
            (["demo", "--no-shift"], None)]:
        args = parser.parse_args(argv)
        found = cli_commands._augmenter(args, default_shift=1 if argv[0] == "demo" else 4)
        if step is None:
            assert found is None, argv
        else:
            name, flip, shift = step
            assert found[0] == name and found[1].horizontal_flip is flip, argv
            assert found[1].crop_padding == shift, argv
    with pytest.raises(SystemExit):
        parser.parse_args(["train", "d", "--shift", "2", "--no-shift"])
    _write_tree(tmp_path / "data", 4)
    status, _, err = _main(capsys, "train", tmp_path / "data", "--epochs", "1", "--no-flip",
                           "--shift", "2", "--out", tmp_path / "m.safetensors")
    assert status == 0, err
    augmenter = sk_cnn.load(tmp_path / "m.safetensors")["aug"]
    assert augmenter.horizontal_flip is False and augmenter.crop_padding == 2
    status, _, err = _main(capsys, "train", tmp_path / "data", "--epochs", "1",
                           "--out", tmp_path / "m.safetensors")
    assert status == 0, err
    augmenter = sk_cnn.load(tmp_path / "m.safetensors")["aug"]
    assert augmenter.horizontal_flip is True and augmenter.crop_padding == 1  # 10 px / 8
    with pytest.raises(SystemExit) as exit_info:
        main(["train", str(tmp_path / "data"), "--shift", "-1"])
    assert exit_info.value.code == 2


def test_parser_shows_the_estimators_defaults():
    defaults = CNNClassifier().get_params()
    names = ("max_epochs", "batch_size", "validation_fraction")
    assert estimator_defaults(*names) == {name: defaults[name] for name in names}


def test_predict_csv_and_json_match_the_model(trained):
    root, _ = trained
    model = sk_cnn.load(root / "model.safetensors")
    paths = find_images(root / "test")
    result = _run("predict", root / "model.safetensors", root / "test" / "dark", paths[-1],
                  "--proba", cwd=root)
    assert result.returncode == 0, result.stderr
    rows = list(csv.reader(io.StringIO(result.stdout)))
    classes = model.classes_.tolist()
    assert rows[0] == ["path", "label"] + [f"proba_{c}" for c in classes]
    expected_paths = find_images(root / "test" / "dark") + [paths[-1]]
    assert [row[0] for row in rows[1:]] == expected_paths
    proba = model.predict_proba(expected_paths)
    np.testing.assert_allclose([[float(v) for v in row[2:]] for row in rows[1:]], proba,
                               atol=1e-5)
    assert [row[1] for row in rows[1:]] == model.predict(expected_paths).tolist()

    result = _run("predict", root / "model.safetensors", root / "test", "--format", "json",
                  cwd=root)
    assert result.returncode == 0, result.stderr
    records = json.loads(result.stdout)
    assert [r["path"] for r in records] == paths
    assert [r["label"] for r in records] == model.predict(paths).tolist()
    assert all(set(r) == {"path", "label"} for r in records)


def test_evaluate_prints_accuracy_report_and_saves_confusion_matrix(trained):
    root, _ = trained
    result = _run("evaluate", root / "model.safetensors", root / "test", "--confusion-matrix",
                  root / "cm.png", cwd=root)
    assert result.returncode == 0, result.stderr
    paths, labels = load_image_folder(root / "test")
    accuracy = sk_cnn.load(root / "model.safetensors").score(paths, labels)
    assert f"accuracy: {accuracy:.4f} on 8 images" in result.stdout
    assert "precision" in result.stdout and "bright" in result.stdout
    assert (root / "cm.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_path_and_not_a_model_exit_non_zero(trained, tmp_path):
    root, _ = trained
    result = _run("predict", root / "model.safetensors", tmp_path / "nowhere.jpg",
                  cwd=tmp_path)
    assert result.returncode == 1
    assert "nowhere.jpg" in result.stderr and "Traceback" not in result.stderr
    (tmp_path / "notes.joblib").write_text("not a model")
    result = _run("evaluate", tmp_path / "notes.joblib", root / "test", "--allow-pickle",
                  cwd=tmp_path)
    assert result.returncode == 1
    assert "not a model saved by 'sk-cnn train'" in result.stderr
    assert "Traceback" not in result.stderr
    (tmp_path / "notes.safetensors").write_text("not a model")
    result = _run("evaluate", tmp_path / "notes.safetensors", root / "test", cwd=tmp_path)
    assert result.returncode == 1 and "not an sk_cnn model file" in result.stderr


def _main(capsys, *args):
    status = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return status, out, err


def test_model_file_that_is_another_object_or_missing(tmp_path, capsys, trained):
    root, _ = trained
    joblib.dump({"weights": [1, 2]}, tmp_path / "dict.joblib")
    status, _, err = _main(capsys, "predict", tmp_path / "dict.joblib", root / "test",
                           "--allow-pickle")
    assert status == 1 and "holds a dict, not an sk_cnn pipeline" in err
    status, _, err = _main(capsys, "evaluate", tmp_path / "missing.joblib", root / "test")
    assert status == 1 and "model file not found" in err


def test_train_errors(tmp_path, capsys):
    status, _, err = _main(capsys, "train", tmp_path / "nowhere")
    assert status == 1 and "not a directory" in err
    _write_tree(tmp_path / "data", 4)
    status, _, err = _main(capsys, "train", tmp_path / "data", "--backbone", "resnet9000")
    assert status == 1 and "Unknown backbone 'resnet9000'" in err
    status, _, err = _main(capsys, "train", tmp_path / "data", "--backbone", "resnet18",
                           "--weights", tmp_path / "missing.pth")
    assert status == 1 and "missing.pth" in err
    status, _, err = _main(capsys, "train", tmp_path / "data", "--out",
                           tmp_path / "no" / "m.safetensors")
    assert status == 1 and "does not exist" in err
    status, _, err = _main(capsys, "train", tmp_path / "data", "--out", tmp_path / "m.j")
    assert status == 1 and "cannot tell the format of" in err and "*.safetensors" in err
    Image.new("RGB", (7, 5)).save(tmp_path / "data" / "dark" / "odd.png")
    status, _, err = _main(capsys, "train", tmp_path / "data",
                           "--out", tmp_path / "m.safetensors")
    assert status == 1 and "--image-size" in err and "odd.png" in err
    (tmp_path / "data" / "dark" / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    status, _, err = _main(capsys, "train", tmp_path / "data", "--image-size", "6", "6",
                           "--out", tmp_path / "m.safetensors")
    assert status == 1 and "broken.jpg" in err
    for bad in (["--epochs", "0"], ["--validation-fraction", "1.5"]):
        with pytest.raises(SystemExit) as exit_info:
            main(["train", str(tmp_path / "data"), *bad])
        assert exit_info.value.code == 2


def test_train_with_image_size_grayscale_and_no_augmentation(tmp_path, capsys):
    _write_tree(tmp_path / "data", 4)
    Image.new("RGB", (7, 5)).save(tmp_path / "data" / "dark" / "odd.png")
    status, out, err = _main(capsys, "train", tmp_path / "data", "--image-size", "6", "8",
                             "--grayscale", "--no-augment", "--epochs", "1",
                             "--validation-fraction", "0", "--out", tmp_path / "m.joblib")
    assert status == 0, err
    assert "not measured" in out
    model = joblib.load(tmp_path / "m.joblib")  # *.joblib writes a pickle
    assert [name for name, _ in model.steps] == ["load", "norm", "cnn"]
    assert model["cnn"].input_shape_ == (6, 8) and model["load"].mode == "L"


def test_evaluate_without_matplotlib_says_how_to_install_it(trained, capsys, monkeypatch):
    root, _ = trained
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes "import matplotlib" fail
    status, _, err = _main(capsys, "evaluate", root / "model.safetensors", root / "test")
    assert status == 1 and "sk_cnn[plot]" in err
    status, out, _ = _main(capsys, "evaluate", root / "model.safetensors", root / "test",
                           "--no-plot")
    assert status == 0 and "accuracy:" in out


def test_predict_folder_without_images(trained, tmp_path, capsys):
    root, _ = trained
    (tmp_path / "notes.txt").write_text("no images here")
    status, _, err = _main(capsys, "predict", root / "model.safetensors", tmp_path)
    assert status == 1 and "holds no image file" in err


def test_export_onnx_and_program_match_the_model(trained, tmp_path, capsys):
    onnxruntime = pytest.importorskip("onnxruntime")
    import torch

    root, _ = trained
    model = sk_cnn.load(root / "model.safetensors")
    paths = sorted(str(p) for p in (root / "test").rglob("*.png"))
    images = model["load"].transform(paths)
    expected = model.predict_proba(paths)
    status, out, err = _main(capsys, "export", root / "model.safetensors", tmp_path / "m.onnx")
    assert status == 0, err
    assert "uint8 images of shape (N, 10, 10, 3)" in out
    session = onnxruntime.InferenceSession(str(tmp_path / "m.onnx"))
    np.testing.assert_allclose(session.run(None, {"X": images})[0], expected, atol=1e-4)
    status, _, err = _main(capsys, "export", root / "model.safetensors", tmp_path / "m.pt2")
    assert status == 0, err
    program = torch.export.load(tmp_path / "m.pt2").module()
    np.testing.assert_allclose(program(torch.from_numpy(images)).numpy(), expected, atol=1e-4)
    status, _, err = _main(capsys, "export", root / "model.safetensors", tmp_path / "m.zip")
    assert status == 1 and "*.onnx" in err


@pytest.mark.parametrize("command", [[], ["train"], ["predict"], ["evaluate"], ["export"],
                                     ["demo"]])
def test_help_everywhere(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(command + ["--help"])
    assert exit_info.value.code == 0
    assert "usage: sk-cnn" in capsys.readouterr().out


def test_demo_trains_on_digits_offline(capsys, tmp_path):
    status, out, _ = _main(capsys, "demo", "--epochs", "1", "--out",
                           tmp_path / "digits.safetensors")
    assert status == 0
    line = next(ln for ln in out.splitlines() if ln.startswith("test accuracy"))
    assert float(line.split()[2]) >= 0.5  # measured 0.80 after 1 epoch (chance: 0.1)
    X = np.zeros((2, 8, 8), np.uint8)
    assert sk_cnn.load(tmp_path / "digits.safetensors").predict(X).shape == (2,)


def _interrupt(monkeypatch, epoch, mid_epoch=False):
    """Ctrl-C, once, at the start of epoch ``epoch`` (epochs before it completed and backed
    up) or after its first batch; skorch catches it and ends fit quietly. Patched on the class,
    as a callback would be a parameter of the saved model."""
    hook = "on_batch_end" if mid_epoch else "on_epoch_begin"
    original = getattr(CNNClassifier, hook)
    pending = [True]

    def interrupt(self, net, **kwargs):
        # At on_epoch_begin the epoch's history row is not there yet; at on_batch_end it is.
        if pending[0] and len(net.history) == (epoch if mid_epoch else epoch - 1):
            pending[0] = False
            raise KeyboardInterrupt
        return original(self, net, **kwargs)

    monkeypatch.setattr(CNNClassifier, hook, interrupt)


# Interrupted at the end of epoch 1, in epoch 2 of 3, in the last epoch (2 of 2).
@pytest.mark.parametrize("mid_epoch, epochs", [(False, 3), (True, 3), (True, 2)])
def test_interrupted_train_saves_what_was_trained_and_exits_130(mid_epoch, epochs, tmp_path,
                                                                capsys, monkeypatch, recwarn):
    _write_tree(tmp_path / "data", 4)
    _interrupt(monkeypatch, 2, mid_epoch)
    out_file = tmp_path / "m.safetensors"
    status, out, err = _main(capsys, "train", tmp_path / "data", "--epochs", str(epochs),
                             "--out", out_file)
    assert status == 130
    assert (f"sk-cnn train: interrupted after 1 of {epochs} epochs; saved the model trained "
            f"so far to '{out_file}'.") in err
    assert "Traceback" not in err and "Trained" not in out
    model = sk_cnn.load(out_file)
    assert [name for name, _ in model.steps] == ["load", "norm", "aug", "cnn"]
    assert len(model["cnn"].history) == 1 + mid_epoch  # epoch 2 cut short has a row too
    paths, labels = load_image_folder(tmp_path / "data")
    assert model.predict(paths).shape == labels.shape
    # The library's warning about the interruption is not shown besides that line.
    assert not [w for w in recwarn if "interrupted" in str(w.message)]


def test_train_interrupted_in_its_first_epoch_saves_nothing(tmp_path, capsys, monkeypatch):
    _write_tree(tmp_path / "data", 4)
    _interrupt(monkeypatch, 1, mid_epoch=True)
    status, _, err = _main(capsys, "train", tmp_path / "data", "--epochs", "3",
                           "--out", tmp_path / "m.safetensors")
    assert status == 130
    assert "sk-cnn train: interrupted after 0 of 3 epochs; nothing saved." in err
    assert not (tmp_path / "m.safetensors").exists()


def _epochs_printed(out):
    """The epoch numbers of skorch's per-epoch table in ``out``."""
    return [int(line.split()[0]) for line in out.splitlines()
            if line.split() and line.split()[0].isdigit()]


def test_checkpoint_dir_resumes_an_interrupted_train(tmp_path, capsys, monkeypatch):
    _write_tree(tmp_path / "data", 6)
    checkpoints = tmp_path / "checkpoints"
    command = ["train", tmp_path / "data", "--epochs", "3", "--batch-size", "4",
               "--out", tmp_path / "m.safetensors", "--checkpoint-dir", checkpoints]
    with monkeypatch.context() as patch:
        _interrupt(patch, 2)
        status, out, err = _main(capsys, *command)
    assert status == 130
    assert _epochs_printed(out) == [1]
    assert "saved the model trained so far" in err
    assert f"Run the same command again to resume from epoch 2 (backup in '{checkpoints}')" \
        in err
    assert len(list(checkpoints.glob("sk_cnn_backup_*.pt"))) == 1
    status, out, err = _main(capsys, *command)
    assert status == 0, err
    assert _epochs_printed(out) == [2, 3]  # epoch 1 is not trained again
    assert list(checkpoints.iterdir()) == []  # the backup goes when training completes
    resumed = sk_cnn.load(tmp_path / "m.safetensors")
    assert len(resumed["cnn"].history) == 3
    # As trained without the interruption (the CLI seeds every fit).
    status, _, err = _main(capsys, *command[:-4], "--out", tmp_path / "whole.safetensors")
    assert status == 0, err
    whole = sk_cnn.load(tmp_path / "whole.safetensors")
    paths, _ = load_image_folder(tmp_path / "data")
    np.testing.assert_allclose(resumed.predict_proba(paths), whole.predict_proba(paths),
                               atol=1e-5)


def test_bad_checkpoint_dir_fails_before_the_work(tmp_path, capsys):
    _write_tree(tmp_path / "data", 4)
    (tmp_path / "file").write_text("not a folder")
    status, out, err = _main(capsys, "train", tmp_path / "data", "--checkpoint-dir",
                             tmp_path / "file" / "sub", "--out", tmp_path / "m.safetensors")
    assert status == 1 and "--checkpoint-dir" in err and "cannot be created" in err
    assert "Decoding" not in out and "Traceback" not in err


def test_interrupted_demo_saves_what_was_trained_and_exits_130(tmp_path, capsys, monkeypatch):
    _interrupt(monkeypatch, 2)
    out_file = tmp_path / "m.safetensors"
    status, out, err = _main(capsys, "demo", "--epochs", "3", "--out", out_file)
    assert status == 130
    assert (f"sk-cnn demo: interrupted after 1 of 3 epochs; saved the model trained so far to "
            f"'{out_file}'.") in err
    assert "test accuracy" not in out
    assert sk_cnn.load(out_file).predict(np.zeros((2, 8, 8), np.uint8)).shape == (2,)


def _save_pipeline(root, middle=None, size=None):
    """A pipeline fitted on a tiny tree, saved pickle-free; returns the file."""
    middle = middle or ("norm", ImageNormalizer())
    paths, labels = load_image_folder(_write_tree(root / "data", 4))
    model = Pipeline([("load", ImageLoader(size=size)), middle,
                      ("cnn", CNNClassifier(max_epochs=1, verbose=0))]).fit(paths, labels)
    if isinstance(middle[1], ImageNormalizer):
        return sk_cnn.save(model, root / "model.safetensors")
    joblib.dump(model, root / "model.joblib")  # a step sk_cnn.save does not store
    return root / "model.joblib"


@pytest.mark.parametrize("size", [None, 10])
def test_export_with_loader_size_none_or_int(size, tmp_path, capsys):
    model = _save_pipeline(tmp_path, size=size)
    status, out, err = _main(capsys, "export", model, tmp_path / "m.pt2")
    assert status == 0, err
    assert "uint8 images of shape (N, 10, 10, 3)" in out
    assert (tmp_path / "m.pt2").stat().st_size > 0


def test_export_errors_are_one_line_and_leave_no_file(tmp_path, capsys, monkeypatch):
    from sklearn.preprocessing import FunctionTransformer

    model = _save_pipeline(tmp_path, middle=("f", FunctionTransformer()))
    before = sorted(os.listdir(tmp_path))
    status, _, err = _main(capsys, "export", model, tmp_path / "m.pt2")
    assert status == 1 and "--allow-pickle" in err and "Traceback" not in err
    status, _, err = _main(capsys, "export", model, tmp_path / "m.pt2", "--allow-pickle")
    assert status == 1 and "FunctionTransformer" in err and "Traceback" not in err
    (tmp_path / "adir.onnx").mkdir()
    status, _, err = _main(capsys, "export", model, tmp_path / "adir.onnx", "--allow-pickle")
    assert status == 1 and "it is a folder" in err

    def write_then_fail(model, path, **kwargs):
        Path(path).write_bytes(b"half a model")
        raise RuntimeError("torch.export could not export the network")

    monkeypatch.setattr(cli_commands, "export_program", write_then_fail)
    status, _, err = _main(capsys, "export", model, tmp_path / "m.pt2", "--allow-pickle")
    assert status == 1 and "could not export" in err
    assert sorted(os.listdir(tmp_path)) == sorted(before + ["adir.onnx"])


def test_bad_output_paths_fail_before_the_work(trained, tmp_path, capsys):
    root, _ = trained
    _write_tree(tmp_path / "data", 4)
    (tmp_path / "adir").mkdir()
    status, out, err = _main(capsys, "train", tmp_path / "data", "--out", tmp_path / "adir")
    assert status == 1 and "it is a folder" in err and "Decoding" not in out
    for figure, message in [(tmp_path / "nodir" / "cm.png", "does not exist"),
                            (tmp_path / "adir", "it is a folder"),
                            (tmp_path / "cm.xyz", ".png")]:
        status, out, err = _main(capsys, "evaluate", root / "model.safetensors", root / "test",
                                 "--confusion-matrix", figure)
        assert status == 1 and message in err and "accuracy" not in out, err
    assert not (tmp_path / "cm.xyz").exists()


def test_export_takes_the_loader_whatever_its_step_name(tmp_path, capsys):
    # make_pipeline names the loader's step "imageloader", not "load"; load_model accepts it.
    paths, labels = load_image_folder(_write_tree(tmp_path / "data", 4))
    model = make_pipeline(ImageLoader(size=6), ImageNormalizer(),
                          CNNClassifier(max_epochs=1, verbose=0)).fit(paths, labels)
    sk_cnn.save(model, tmp_path / "model.safetensors")
    status, out, err = _main(capsys, "export", tmp_path / "model.safetensors", tmp_path / "m.pt2")
    assert status == 0, err
    assert "uint8 images of shape (N, 6, 6, 3)" in out


def _unwritable_outputs(tmp_path):
    """Output paths in existing folders where no file can be created, and the expected reason."""
    outputs = [(tmp_path / ("x" * 300 + ".png"), "File name too long")]
    if sys.platform.startswith("linux"):
        outputs.append((Path("/proc/sk_cnn_test.png"), "cannot create a file there"))
    if os.name == "posix" and os.geteuid() != 0:  # root writes whatever the permission bits say
        (tmp_path / "read_only").mkdir(mode=0o555)
        outputs.append((tmp_path / "read_only" / "m.png", "Permission denied"))
    return outputs


def test_unwritable_output_paths_fail_before_the_work(trained, tmp_path, capsys):
    root, _ = trained
    _write_tree(tmp_path / "data", 4)
    before = sorted(os.listdir(tmp_path))
    for path, reason in _unwritable_outputs(tmp_path):
        for args in (["train", tmp_path / "data", "--out", path.with_suffix(".safetensors")],
                     ["demo", "--out", path.with_suffix(".safetensors")],
                     ["export", root / "model.safetensors", path.with_suffix(".pt2")],
                     ["evaluate", root / "model.safetensors", root / "test",
                      "--confusion-matrix", path]):
            status, out, err = _main(capsys, *args)
            assert status == 1 and reason in err, (args, err)
            assert "cannot save" in err and len(err.splitlines()) == 1, err
            assert not out, "the check comes before any work"
    assert sorted(os.listdir(tmp_path)) == before  # the probe files are gone


def test_a_failed_save_is_one_line_and_keeps_the_earlier_file(trained, tmp_path, capsys,
                                                             monkeypatch):
    root, _ = trained
    _write_tree(tmp_path / "data", 4)
    (tmp_path / "m.safetensors").write_bytes(b"an earlier model")
    (tmp_path / "cm.png").write_bytes(b"an earlier figure")
    before = sorted(os.listdir(tmp_path))

    def fill_the_disk(value, path, *args, **kwargs):
        Path(path).write_bytes(b"half a file")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(cli_models, "save_file", fill_the_disk)
    status, out, err = _main(capsys, "train", tmp_path / "data", "--epochs", "1",
                             "--out", tmp_path / "m.safetensors")
    assert status == 1 and "Trained" in out
    assert err.splitlines()[-1] == (f"sk-cnn train: error: cannot save the model to "
                                    f"'{tmp_path / 'm.safetensors'}': No space left on device.")
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    monkeypatch.setattr(Figure, "savefig", lambda figure, path, **kwargs: fill_the_disk(
        figure, path))
    status, out, err = _main(capsys, "evaluate", root / "model.safetensors", root / "test",
                             "--confusion-matrix", tmp_path / "cm.png")
    assert status == 1 and "accuracy" in out
    assert "cannot save the confusion matrix" in err and "No space left" in err
    assert sorted(os.listdir(tmp_path)) == before  # no partial file
    assert (tmp_path / "m.safetensors").read_bytes() == b"an earlier model"
    assert (tmp_path / "cm.png").read_bytes() == b"an earlier figure"


def test_a_pickle_is_read_only_with_allow_pickle(trained, tmp_path, capsys):
    # The CLI read joblib pickles only, which run any code they hold.
    root, _ = trained
    pickled = tmp_path / "model.joblib"
    joblib.dump(sk_cnn.load(root / "model.safetensors"), pickled)
    for command in (["predict", pickled, root / "test"], ["evaluate", pickled, root / "test",
                                                         "--no-plot"],
                    ["export", pickled, tmp_path / "m.pt2"]):
        status, out, err = _main(capsys, *command)
        assert status == 1 and not out
        assert "--allow-pickle" in err and "could run any code" in err
    status, safe_out, _ = _main(capsys, "predict", root / "model.safetensors", root / "test")
    status, out, err = _main(capsys, "predict", pickled, root / "test", "--allow-pickle")
    assert status == 0, err
    assert out == safe_out


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="byte file names, FIFOs")
def test_odd_file_names_are_printed_escaped_and_fifos_skipped(trained, tmp_path):
    # A file name that is not UTF-8 crashed train and predict (UnicodeEncodeError) when stdout
    # is strict UTF-8; a FIFO named 2.png made them wait forever.
    root, _ = trained
    data = _write_tree(tmp_path / "data", 4)
    odd_class = os.fsdecode(os.path.join(os.fsencode(data), b"caf\xe9"))
    os.rename(data / "dark", odd_class)
    odd_file = os.fsdecode(os.path.join(os.fsencode(data / "bright"), b"\xff.png"))
    os.rename(data / "bright" / "00.png", odd_file)
    os.mkfifo(data / "bright" / "2b.png")
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONIOENCODING": "utf-8:strict"}

    def run(*args):
        return subprocess.run([sys.executable, "-m", "sk_cnn.cli", *map(str, args)],
                              cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=300)

    result = run("train", data, "--epochs", "1", "--out", tmp_path / "m.safetensors")
    assert result.returncode == 0, result.stderr
    assert "caf\\xe9: " in result.stdout  # the class folder, escaped
    result = run("predict", tmp_path / "m.safetensors", data)
    assert result.returncode == 0, result.stderr
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert any(row[0].endswith("bright/\\xff.png") for row in rows)
    assert {row[1] for row in rows[1:]} <= {"bright", "caf\\xe9"}
    assert not any("2b.png" in row[0] for row in rows)  # not a regular file: skipped
