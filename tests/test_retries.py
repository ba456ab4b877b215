"""Tests for retries.py: which errors are worth another try, and how many tries a call gets."""

import errno

import pytest

from gemma4_audio_embed import retries


class ServiceUnavailable(Exception):
    """Named as google-api-core's 503 error is: the type name is what `is_transient` reads."""


@pytest.mark.parametrize(
    "error, transient",
    [
        (OSError(errno.EIO, "Input/output error"), True),
        (OSError(errno.EAGAIN, "Resource temporarily unavailable"), True),
        (OSError("an I/O error without errno"), True),
        (ConnectionResetError(errno.ECONNRESET, "reset"), True),
        (TimeoutError("timed out"), True),
        (RuntimeError("RESOURCE_EXHAUSTED: Out of memory while trying to allocate 1.2GiB"), True),
        (ServiceUnavailable("503 Service Unavailable"), True),
        (OSError(errno.ENOSPC, "No space left on device"), False),
        (OSError(errno.EDQUOT, "Disk quota exceeded"), False),
        (FileNotFoundError(errno.ENOENT, "No such file"), False),
        (PermissionError(errno.EACCES, "Permission denied"), False),
        (ValueError("not finite"), False),
    ],
)
def test_which_errors_are_transient(error, transient):
    assert retries.is_transient(error) is transient


def _flaky(failures):
    """A call that raises `failures` in turn, then returns 'done'; `calls` counts its calls."""
    calls = []

    def call():
        calls.append(1)
        if len(calls) <= len(failures):
            raise failures[len(calls) - 1]
        return "done"

    return call, calls


def test_transient_errors_are_retried_with_growing_waits_until_the_call_succeeds():
    call, calls = _flaky([OSError(errno.EIO, "io"), TimeoutError("slow")])
    waits = []
    assert retries.retried(call, what="writing x", sleep=waits.append) == "done"
    assert len(calls) == 3 and waits == [0.5, 1.0]


def test_the_last_transient_error_propagates_after_the_last_try():
    call, calls = _flaky([OSError(errno.EIO, "io")] * 5)
    with pytest.raises(OSError, match="io"):
        retries.retried(call, what="writing x", attempts=3, sleep=lambda _: None)
    assert len(calls) == 3


def test_a_permanent_error_propagates_at_once():
    call, calls = _flaky([OSError(errno.ENOSPC, "No space left on device")])
    with pytest.raises(OSError, match="No space left"):
        retries.retried(call, what="writing x", sleep=lambda _: None)
    assert len(calls) == 1


def test_attempts_under_one_raise():
    with pytest.raises(ValueError, match="attempts"):
        retries.retried(lambda: None, what="x", attempts=0)
