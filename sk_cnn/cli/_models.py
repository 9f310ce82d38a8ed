"""The model files of the ``sk-cnn`` commands: pickle-free by default, pickles when allowed.

A ``*.safetensors`` file is written by :func:`sk_cnn.save` and read by :func:`sk_cnn.load`,
which runs no code from it. A joblib pickle (``*.joblib``, ``*.pkl``) runs any code it holds
when it is read, so the commands read one only with ``--allow-pickle``, as ``torch.load``
reads only weights unless told otherwise.
"""

from __future__ import annotations

from pathlib import Path

import joblib
from sklearn.pipeline import Pipeline

from ..io import load as load_file
from ..io import save as save_file
from ..preprocessing import ImageLoader
from ._errors import CLIError

#: The file name endings of the two formats.
SAFE_SUFFIX = ".safetensors"
PICKLE_SUFFIXES = (".joblib", ".pkl", ".pickle")


def check_model_suffix(path) -> None:
    """Refuse a model file name of neither format, before any work."""
    if Path(path).suffix.lower() not in (SAFE_SUFFIX, *PICKLE_SUFFIXES):
        raise CLIError(f"cannot tell the format of '{path}': name it *{SAFE_SUFFIX} "
                       f"(pickle-free, the default) or *.joblib (a pickle).")


def save_model(model, path) -> None:
    """Write ``model`` in the format ``path``'s ending names (see :func:`check_model_suffix`).

    Raises
    ------
    CLIError
        When a step cannot be stored without pickle.
    """
    if Path(path).suffix.lower() in PICKLE_SUFFIXES:
        joblib.dump(model, path)
        return
    try:
        save_file(model, path)
    except TypeError as exc:
        raise CLIError(f"{exc} Or save it as *.joblib.") from exc


def load_model(path, allow_pickle: bool = False) -> Pipeline:
    """Load a pipeline saved by ``sk-cnn train`` and check that it is one.

    Parameters
    ----------
    path : str or os.PathLike
        A ``*.safetensors`` file (read with :func:`sk_cnn.load`), or a joblib pickle.
    allow_pickle : bool, default=False
        Read a joblib pickle, which runs any code it holds: only for files you trust.

    Returns
    -------
    pipeline : sklearn.pipeline.Pipeline
        A fitted pipeline whose first step is an :class:`ImageLoader` and whose last step is a
        fitted classifier with ``classes_``.

    Raises
    ------
    CLIError
        When the file is missing, a pickle without ``allow_pickle``, not a model file, or
        holds something else.
    """
    path = Path(path)
    if not path.is_file():
        raise CLIError(f"model file not found: '{path}'.")
    if path.suffix.lower() == SAFE_SUFFIX:
        try:
            model = load_file(path)
        except ValueError as exc:
            raise CLIError(str(exc)) from exc
    elif not allow_pickle:
        raise CLIError(
            f"'{path}' is not a {SAFE_SUFFIX} file: read as a pickle it could run any code "
            f"it holds. Pass --allow-pickle if you trust where it came from, or use a "
            f"{SAFE_SUFFIX} model ('sk-cnn train --out model{SAFE_SUFFIX}').")
    else:
        try:
            model = joblib.load(path)
        except Exception as exc:  # unpickling can fail in many ways; all mean "not a model"
            raise CLIError(
                f"'{path}' is not a model saved by 'sk-cnn train' (joblib could not read it: "
                f"{type(exc).__name__}: {exc}).") from exc
    if not (isinstance(model, Pipeline) and isinstance(model.steps[0][1], ImageLoader)
            and hasattr(model.steps[-1][1], "classes_")):
        raise CLIError(
            f"'{path}' holds a {type(model).__name__}, not an sk_cnn pipeline that starts with "
            f"ImageLoader and ends with a fitted classifier. Save one with 'sk-cnn train' or "
            f"sk_cnn.save(Pipeline([('load', ImageLoader()), ..., ('cnn', CNNClassifier())]), "
            f"'model{SAFE_SUFFIX}').")
    return model
