"""What the ``sk-cnn`` commands print: file and class names made printable, messages on stderr,
no colour codes where they are not wanted, a quiet end when the reader of a pipe goes."""

from __future__ import annotations

import os
import re
import sys
from contextlib import contextmanager, suppress


def printable(text) -> str:
    """``text`` as it can be printed on any terminal or pipe: a file name that is not UTF-8
    (decoded by Python with surrogate escapes) shows its odd bytes as ``\\xNN``."""
    return str(text).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def log(*parts):
    """Print a message on stderr."""
    print(*(printable(part) for part in parts), file=sys.stderr, flush=True)


def tolerant_streams() -> None:
    """Let stdout and stderr write what their encoding lacks as backslash escapes, instead of
    failing in the middle of the output (a terminal in ASCII, or strict UTF-8)."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")


# CSI sequences: colours (skorch's epoch table marks the best scores with them), cursor moves.
_ANSI_ESCAPE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")


def wants_color(stream) -> bool:
    """Whether escape codes may be written to ``stream``: a terminal, and ``NO_COLOR`` unset
    or empty (https://no-color.org)."""
    if os.environ.get("NO_COLOR"):
        return False
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):  # no isatty, or a closed stream
        return False


class _PlainText:
    """A text stream that passes what is written to ``stream`` without ANSI escape codes."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text):
        self._stream.write(_ANSI_ESCAPE.sub("", text))
        return len(text)

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def __getattr__(self, name):  # flush, fileno, encoding, isatty, ...
        return getattr(self._stream, name)


@contextmanager
def plain_streams():
    """Within the block, ``sys.stdout`` and ``sys.stderr`` drop ANSI escape codes where
    :func:`wants_color` says no (a file, a pipe, ``NO_COLOR``).

    skorch's ``PrintLog`` colours the best scores of its table and has no switch for it; its
    ``sink`` is a parameter of the estimator, so it would be saved with the model.
    """
    saved = sys.stdout, sys.stderr
    try:
        if sys.stdout is not None and not wants_color(sys.stdout):
            sys.stdout = _PlainText(sys.stdout)
        if sys.stderr is not None and not wants_color(sys.stderr):
            sys.stderr = _PlainText(sys.stderr)
        yield
    finally:
        sys.stdout, sys.stderr = saved


def silence_broken_pipe() -> None:
    """Point stdout at the null device after its reader closed the pipe, so that Python's
    final flush does not report the error again (the recipe of Python's ``signal`` docs, "Note
    on SIGPIPE")."""
    with suppress(AttributeError, ValueError, OSError):  # no file descriptor (captured)
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, sys.stdout.fileno())
        finally:
            os.close(devnull)
