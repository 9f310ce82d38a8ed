"""Files the ``sk-cnn`` commands write: checked before any work, written whole or not at all."""

from __future__ import annotations

import os
from contextlib import contextmanager, suppress
from pathlib import Path

from ._errors import CLIError


def check_output(path, what) -> Path:
    """``path`` as a Path, after checking that ``what`` can be saved there: not a folder, in an
    existing folder where this process can create files, with a name the file system accepts.
    A bad path thus fails before the work (decoding, training) rather than after it."""
    path = Path(path)
    try:
        if path.is_dir():
            raise CLIError(f"cannot save {what} to '{path}': it is a folder; name a file in it, "
                           f"e.g. '{path / 'name'}'.")
        if not path.parent.is_dir():
            raise CLIError(f"cannot save {what} to '{path}': folder '{path.parent}' does not "
                           f"exist.")
        # Creating the files for real is the only check that root (whom permission bits do not
        # stop), read-only file systems and limits on name length all answer truthfully.
        _create_and_remove(_partial_path(path))
        if not os.path.lexists(path):
            _create_and_remove(path)
    except OSError as exc:
        raise CLIError(f"cannot save {what} to '{path}': cannot create a file there "
                       f"({_reason(exc)}). Choose another name or folder.") from exc
    return path


def _create_and_remove(path):
    with open(path, "xb"):
        pass
    os.unlink(path)


def _reason(exc: OSError) -> str:
    # strerror ("Permission denied") without the file name, which may be the temporary file's.
    return exc.strerror or str(exc)


def _partial_path(out: Path) -> Path:
    """The temporary file that :func:`saving` writes before renaming it to ``out``."""
    # A short name of its own rather than out's name plus a suffix: every name that fits the file
    # system works for out. The extension stays, as matplotlib reads the image format from it.
    return out.with_name(f".sk-cnn-{os.getpid()}.partial{out.suffix}")


@contextmanager
def saving(out: Path, what):
    """Give a temporary path beside ``out`` to write ``what`` to, then rename it to ``out``.

    A failed write thus leaves neither a partial file nor a damaged earlier ``out``, and its
    OSError (a full disk, a folder made read-only since :func:`check_output`) becomes a
    :class:`CLIError`.
    """
    partial = _partial_path(out)
    try:
        yield partial
        os.replace(partial, out)
    except OSError as exc:
        raise CLIError(f"cannot save {what} to '{out}': {_reason(exc)}.") from exc
    finally:
        with suppress(OSError):  # the error above, if any, is the one to report
            partial.unlink(missing_ok=True)

