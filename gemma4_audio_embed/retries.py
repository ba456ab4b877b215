"""Bounded retries of transient failures: a device out of memory, an I/O hiccup, a busy storage service.

`retried(call)` runs `call` up to `ATTEMPTS` times while it raises an error `is_transient` calls
transient, waiting `BACKOFF_SECONDS * 2**n` before try n + 2 and logging each retry; any other
error, and the last transient one, propagates unchanged. The job uses it around an encoder
batch (`inference.handler`) and around writing one output file (`outputs.writer`), both
idempotent, so a retry never duplicates or loses a record.
"""

import errno
import logging
import time
from collections.abc import Callable
from typing import TypeVar

ATTEMPTS = 3
BACKOFF_SECONDS = 0.5  # then 1 s
# I/O errors that a second try can get past; a full disk, a missing file or a denied access cannot.
_TRANSIENT_ERRNOS = frozenset(
    {errno.EIO, errno.EAGAIN, errno.EINTR, errno.EBUSY, errno.ETIMEDOUT, errno.ECONNRESET, errno.ECONNABORTED}
)
# What the message or type of an accelerator or storage error says when trying again may help:
# XLA's "RESOURCE_EXHAUSTED: Out of memory", gRPC's UNAVAILABLE, google-api-core's 429/5xx types.
_TRANSIENT_MARKS = ("RESOURCE_EXHAUSTED", "UNAVAILABLE", "DEADLINE_EXCEEDED")
_TRANSIENT_TYPES = frozenset(
    {"ServiceUnavailable", "TooManyRequests", "InternalServerError", "GatewayTimeout", "BadGateway", "ServerError"}
)

Result = TypeVar("Result")


def is_transient(error: BaseException) -> bool:
    """Whether `error` may pass on a second try: an I/O error of a transient errno (or none), a
    connection reset or time-out, an accelerator out of memory, a storage service busy."""
    if isinstance(error, OSError) and not isinstance(error, (ConnectionError, TimeoutError)):
        return error.errno is None or error.errno in _TRANSIENT_ERRNOS
    if isinstance(error, (ConnectionError, TimeoutError)):
        return True
    if any(base.__name__ in _TRANSIENT_TYPES for base in type(error).__mro__):
        return True
    return any(mark in str(error) for mark in _TRANSIENT_MARKS)


def retried(
    call: Callable[[], Result],
    *,
    what: str,
    attempts: int = ATTEMPTS,
    transient: Callable[[BaseException], bool] = is_transient,
    sleep: Callable[[float], None] = time.sleep,
) -> Result:
    """Returns `call()`, trying again after a transient error, `attempts` tries in all.

    Args:
        call: the idempotent work, without arguments.
        what: str. What `call` does, for the log line of each retry (`"writing <path>"`).
        attempts: int. Tries in all, at least 1. Defaults to `ATTEMPTS` (3).
        transient: which errors are worth another try. Defaults to `is_transient`.
        sleep: how to wait between tries (a test passes a recorder). Defaults to `time.sleep`.

    Raises:
        ValueError: for `attempts` under 1.
        Whatever `call` raised last: at once when it is not transient, after the last try when it is.
    """
    if attempts < 1:
        raise ValueError(f"`attempts` must be at least 1. Received: {attempts}")
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except Exception as error:
            if attempt == attempts or not transient(error):
                raise
            wait = BACKOFF_SECONDS * 2 ** (attempt - 1)
            logging.warning(
                "Transient error %s (try %d of %d), trying again in %.1f s: %s: %s",
                what,
                attempt,
                attempts,
                wait,
                type(error).__name__,
                error,
            )
            sleep(wait)
    raise AssertionError("unreachable: the loop returns or raises")
