"""Warnings and errors of sk_cnn, to be filtered or caught by their class."""

from __future__ import annotations

__all__ = ["DownloadError", "TrainingInterruptedWarning"]


class DownloadError(OSError):
    """Pretrained weights or a data set could not be downloaded, or failed the hash check.

    Raised after the retries; the message names the address, the last error, and where to
    put the file by hand.
    """


class TrainingInterruptedWarning(UserWarning):
    """A fit stopped by Ctrl-C (KeyboardInterrupt) before its last epoch.

    skorch swallows the interruption and the estimator keeps the network trained so far, so
    ``fit`` returns normally; this warning says that it is only partly trained. Running the
    same fit again (``warm_start=True``, or a ``checkpoint_dir`` backup) resumes the epochs
    that are left.

    Parameters
    ----------
    message : str
        What happened, for people.
    epochs_completed : int
        Epochs of the interrupted call that ran to their end.
    epochs_planned : int
        Epochs the call was to train.

    Attributes
    ----------
    epochs_completed : int
        Epochs of the interrupted call that ran to their end.
    epochs_planned : int
        Epochs the call was to train.

    Examples
    --------
    >>> import warnings
    >>> from sk_cnn.exceptions import TrainingInterruptedWarning
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     warnings.warn(TrainingInterruptedWarning("stopped", 2, 10))
    >>> caught[0].message.epochs_completed, caught[0].message.epochs_planned
    (2, 10)
    """

    def __init__(self, message: str, epochs_completed: int, epochs_planned: int):
        super().__init__(message)
        self.epochs_completed = epochs_completed
        self.epochs_planned = epochs_planned
