"""Classifying handler results and exceptions, and the nak delays decided outside decide()."""

from __future__ import annotations

import asyncio

import pytest

from qx.core import Error, Result
from qx.exceptions import NonRetryableError
from qx.worker import Nak, Outcome, RetryPolicy
from qx.worker._classify import classify_exception, classify_result
from qx.worker._decision import advisory_retry, after_dead_letter_failure, after_settle_failure

POLICY = RetryPolicy(base_delay=0.5, factor=2.0, max_delay=4.0)


def test_success_result() -> None:
    assert classify_result(Result.success(None)) == Outcome.success()


@pytest.mark.parametrize("retryable", [True, False])
def test_failure_result_keeps_code_message_and_retryability(retryable: bool) -> None:
    outcome = classify_result(Result.failure(Error("stock", "out of stock", retryable)))
    assert outcome == Outcome("failure", "handler_failed", "stock", "out of stock", retryable)
    assert outcome.exception is None


def test_exception_is_a_retryable_handler_error_carrying_the_exception() -> None:
    exc = ValueError("bad")
    outcome = classify_exception(exc, timed_out=False, timeout=5.0)
    assert outcome == Outcome("failure", "handler_error", "ValueError", "bad", True)
    assert outcome.exception is exc


def test_non_retryable_error() -> None:
    outcome = classify_exception(NonRetryableError("never"), timed_out=False, timeout=5.0)
    assert (outcome.reason, outcome.retryable) == ("non_retryable", False)


def test_timeout_names_the_limit() -> None:
    outcome = classify_exception(asyncio.CancelledError(), timed_out=True, timeout=2.5)
    assert (outcome.reason, outcome.error_type) == ("handler_timeout", "TimeoutError")
    assert "handler_timeout=2.5s" in outcome.message


def test_handlers_own_cancelled_error_is_an_ordinary_failure() -> None:
    outcome = classify_exception(asyncio.CancelledError("sub"), timed_out=False, timeout=1.0)
    assert (outcome.reason, outcome.error_type) == ("handler_error", "CancelledError")


@pytest.mark.parametrize(("delivered", "delay"), [(1, 0.5), (2, 1.0), (4, 4.0)])
def test_dead_letter_failure_backs_off_before_the_last_delivery(
    delivered: int, delay: float
) -> None:
    assert after_dead_letter_failure(delivered, 5, POLICY) == Nak(delay)


def test_dead_letter_failure_on_last_delivery_naks_at_once_for_the_advisory() -> None:
    assert after_dead_letter_failure(5, 5, POLICY) == Nak(0.0)
    assert after_dead_letter_failure(50, -1, POLICY) == Nak(4.0)  # unlimited: never "last"


def test_settle_and_advisory_retries_use_the_backoff() -> None:
    assert after_settle_failure(3, POLICY) == Nak(2.0)
    assert advisory_retry(1, POLICY) == Nak(0.5)
