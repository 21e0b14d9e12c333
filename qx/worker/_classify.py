"""Classify: what a handler's return value or exception means for the message. Pure."""

from __future__ import annotations

from qx.core import Result
from qx.exceptions import NonRetryableError
from qx.worker._decision import Outcome


def classify_result(result: Result[None]) -> Outcome:
    if result.is_success:
        return Outcome.success()
    err = result.error
    assert err is not None
    return Outcome("failure", "handler_failed", err.code, err.message, err.retryable)


def classify_exception(exc: BaseException, *, timed_out: bool, timeout: float | None) -> Outcome:
    """``timed_out``: the worker cancelled the handler at its deadline (``handler_timeout``).
    A handler's own ``TimeoutError`` or ``CancelledError`` (from a subtask, a gather) is an
    ordinary failed attempt with its own message."""
    name = type(exc).__name__
    if timed_out:
        message = f"handler did not finish within handler_timeout={timeout}s"
        return Outcome("failure", "handler_timeout", "TimeoutError", message, True, exc)
    if isinstance(exc, NonRetryableError):
        return Outcome("failure", "non_retryable", name, str(exc), False, exc)
    message = f"handler raised CancelledError: {exc}" if name == "CancelledError" else str(exc)
    return Outcome("failure", "handler_error", name, message, True, exc)
