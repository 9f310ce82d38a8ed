"""What the ``sk-cnn`` commands print: file and class names made printable, messages on stderr."""

from __future__ import annotations

import sys


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
