"""The ``sk-cnn`` command: train, predict, evaluate, export and demo from the shell.

``sk-cnn train DATA_DIR`` fits ImageLoader -> ImageNormalizer -> ImageAugmenter ->
CNNClassifier on a class-per-folder tree and saves the pipeline (pickle-free, or as a joblib
pickle); ``predict``, ``evaluate`` and ``export`` (to ONNX or torch.export) load it again, a
pickle only with ``--allow-pickle``. Run
``sk-cnn COMMAND --help`` for the options; ``python -m sk_cnn.cli`` works too.
"""

from typing import TYPE_CHECKING

from ._errors import CLIError
from ._main import build_parser, main

if TYPE_CHECKING:
    from ._models import load_model

__all__ = ["CLIError", "build_parser", "load_model", "main"]


def __getattr__(name):
    # load_model imports torch and scikit-learn: not when the parser alone is wanted (--help).
    if name == "load_model":
        from ._models import load_model

        return load_model
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
