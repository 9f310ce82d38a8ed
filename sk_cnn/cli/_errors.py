"""The error a ``sk-cnn`` command reports as one line."""


class CLIError(Exception):
    """An error reported as one line on stderr, with exit status 1."""
