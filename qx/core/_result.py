"""A handler's outcome as a value, so "failed" can never be mistaken for "returned normally".

The worker acks only on ``Result.success``; a failure is nak'd with backoff or, when
``retryable=False``, dead-lettered at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Error:
    """Why a handler failed: ``code`` for machines, ``message`` for whoever reads the DLQ."""

    code: str
    message: str
    retryable: bool = True


@dataclass(frozen=True, slots=True)
class Result(Generic[T]):
    value: T | None = None
    error: Error | None = None

    @property
    def is_success(self) -> bool:
        return self.error is None

    @staticmethod
    def success(value: T) -> Result[T]:
        return Result(value=value)

    @staticmethod
    def failure(
        error: Error | str | BaseException, *, retryable: bool = True, code: str | None = None
    ) -> Result[T]:
        """Build a failure from an ``Error``, a message or an exception.

        ``retryable=False`` sends the message straight to the DLQ: use it when retrying cannot
        help (the event is valid but refers to something that will never exist, say).
        """
        if isinstance(error, Error):
            err = error if retryable else Error(error.code, error.message, retryable=False)
        elif isinstance(error, BaseException):
            err = Error(code or type(error).__name__, str(error) or type(error).__name__, retryable)
        else:
            err = Error(code or "handler_failed", error, retryable)
        return Result(error=err)
