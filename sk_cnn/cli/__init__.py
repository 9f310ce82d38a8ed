"""The ``sk-cnn`` command: train, predict, evaluate, export and demo from the shell.

``sk-cnn train DATA_DIR`` fits ImageLoader -> ImageNormalizer -> ImageAugmenter ->
CNNClassifier on a class-per-folder tree and saves the pipeline (pickle-free, or as a joblib
pickle); ``predict``, ``evaluate`` and ``export`` (to ONNX or torch.export) load it again, a
pickle only with ``--allow-pickle``. Run
``sk-cnn COMMAND --help`` for the options; ``python -m sk_cnn.cli`` works too.
"""

from ._commands import load_model
from ._errors import CLIError
from ._main import build_parser, main

__all__ = ["CLIError", "build_parser", "load_model", "main"]
