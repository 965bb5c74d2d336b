"""Everything the project may fetch over the network (Keras' ImageNet weights, TFDS datasets,
pytorchcv's weights) fails the same way when it cannot: `FetchError`, one line naming what
could not be fetched, why, and what to do instead (a local file, a manual folder, random
weights); a `ValueError`, so the command line prints it and exits 2.
"""

from __future__ import annotations

import contextlib
import socket
import urllib.error
from typing import Iterator

# Keras' and TFDS' downloads have no timeout of their own: a missing network would hang.
FETCH_TIMEOUT_SECONDS = 30
# Messages of the libraries' own wrappers around a network failure (Keras: "URL fetch
# failure on https://... : None -- [Errno -3] Temporary failure in name resolution").
_NETWORK_MESSAGES = (
    "url fetch failure", "name resolution", "failed to establish a new connection",
    "max retries exceeded", "connection refused", "network is unreachable", "timed out",
    "no route to host", "connection reset", "remote end closed", "nodename nor servname",
)


class FetchError(ValueError):
    """A fetch over the network that failed: `what` could not be fetched (`reason`); `remedy`
    says what to do instead."""

    def __init__(self, what: str, reason: str, remedy: str):
        self.what, self.reason, self.remedy = what, reason, remedy
        super().__init__(f"could not fetch {what} ({reason}); {remedy}")


def is_network_error(error: BaseException) -> bool:
    """Whether `error` (or what it was raised from) is a failed connection, lookup or read."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, (urllib.error.URLError, socket.timeout, socket.gaierror, ConnectionError, TimeoutError)):
            return True
        if type(error).__module__.startswith(("requests", "urllib3")):
            return True
        if any(text in str(error).lower() for text in _NETWORK_MESSAGES):
            return True
        error = error.__cause__ or error.__context__
    return False


def short_reason(error: BaseException) -> str:
    """The innermost cause's first line: "[Errno -3] Temporary failure in name resolution"."""
    while (error.__cause__ or error.__context__) is not None:
        error = error.__cause__ or error.__context__
    first = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {first[:200]}" if first else type(error).__name__


@contextlib.contextmanager
def fetching(what: str, remedy: str, timeout: float = FETCH_TIMEOUT_SECONDS) -> Iterator[None]:
    """A block that may fetch `what`: a network failure in it becomes `FetchError(what, ...,
    remedy)`; sockets opened in it give up after `timeout` seconds without data."""
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)
    try:
        yield
    except FetchError:
        raise
    except Exception as error:
        if not is_network_error(error):
            raise
        raise FetchError(what, short_reason(error), remedy) from error
    finally:
        socket.setdefaulttimeout(previous)
