"""What every download of sk_cnn shares: an offline switch, a mirror, and retries.

The downloads themselves are torch's and torchvision's (``torch.hub.download_url_to_file``
for weights, ``torchvision.datasets.CIFAR10(download=True)`` for data): they check the hash,
write the file only when it is complete (weights) and show a progress bar. This module only
decides whether to download, from where, and how often to try.
"""

from __future__ import annotations

import http.client
import os
import time
import urllib.error
from collections.abc import Callable

from .exceptions import DownloadError

OFFLINE_VARIABLE = "SK_CNN_OFFLINE"
MIRROR_VARIABLE = "SK_CNN_DOWNLOAD_MIRROR"
ATTEMPTS = 3
RETRY_DELAY = 0.5  # seconds before the second attempt; doubled for each later one


def offline() -> bool:
    """True when the environment variable ``SK_CNN_OFFLINE`` forbids downloads."""
    return os.environ.get(OFFLINE_VARIABLE, "").strip().lower() not in ("", "0", "false", "no")


def mirrored(url: str) -> str:
    """``url``, or the file of the same name under ``SK_CNN_DOWNLOAD_MIRROR`` when it is set."""
    mirror = os.environ.get(MIRROR_VARIABLE, "").strip()
    if not mirror:
        return url
    return mirror.rstrip("/") + "/" + url.rsplit("/", 1)[-1]


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, urllib.error.HTTPError):
        return exc.code >= 500  # a missing file (404) or a refusal (403) will not change
    # A dropped connection; or a truncated transfer, which fails the hash check that torch
    # and torchvision raise as RuntimeError.
    return isinstance(exc, (urllib.error.URLError, http.client.HTTPException, ConnectionError,
                            TimeoutError, RuntimeError))


def download(what: str, url: str, fetch: Callable[[str], object], *, path,
             attempts: int = ATTEMPTS):
    """Run ``fetch(url)`` (a torch or torchvision download) with retries and a clear error.

    Parameters
    ----------
    what : str
        What is downloaded, for the messages (e.g. "resnet18 weights IMAGENET1K_V1").
    url : str
        The official address; ``SK_CNN_DOWNLOAD_MIRROR`` replaces all but its file name.
    fetch : callable
        Downloads from the address it is given to ``path`` and checks the hash.
    path : path
        Where the file lands, for the messages.
    attempts : int, default=3
        Tries before giving up: a dropped connection or a truncated file is tried again.

    Returns
    -------
    result : object
        What ``fetch`` returned.

    Raises
    ------
    FileNotFoundError
        When ``SK_CNN_OFFLINE`` is set: nothing is downloaded.
    DownloadError
        When every attempt failed, or the server refused the file.
    """
    url = mirrored(url)
    if offline():
        raise FileNotFoundError(
            f"{what} are not at {path}, and {OFFLINE_VARIABLE} is set, so nothing is "
            f"downloaded. Unset it to download them from {url}, or put that file at {path}.")
    attempt = 1
    while True:
        try:
            return fetch(url)
        except Exception as exc:  # noqa: BLE001 - sorted by _retryable, re-raised below
            if attempt == attempts or not _retryable(exc):
                tried = f"{attempt} attempt{'s' if attempt > 1 else ''}"
                raise DownloadError(
                    f"Could not download {what} from {url} ({tried}; last error "
                    f"{type(exc).__name__}: {exc}). Check the connection, set "
                    f"{MIRROR_VARIABLE} to a server holding the same file name, or put the "
                    f"file at {path} yourself.") from exc
        time.sleep(RETRY_DELAY * 2 ** (attempt - 1))
        attempt += 1
