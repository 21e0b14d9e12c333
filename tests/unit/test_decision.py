"""The settlement decision, exhaustively, without a server."""

from __future__ import annotations

import pytest

from qx.worker import Ack, DeadLetter, Nak, Outcome, RetryPolicy, decide

POLICY = RetryPolicy(base_delay=0.5, factor=2.0, max_delay=4.0)
FAIL = Outcome("failure", "handler_failed", "Error", "boom", True)


@pytest.mark.parametrize("delivered", [1, 2, 5, 100])
def test_success_is_always_acked(delivered: int) -> None:
    assert decide(Outcome.success(), delivered, 5, POLICY) == Ack()


@pytest.mark.parametrize(
    ("delivered", "delay"), [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 4.0), (9, 4.0)]
)
def test_retryable_failure_naks_with_capped_exponential_delay(delivered: int, delay: float) -> None:
    assert decide(FAIL, delivered, 10, POLICY) == Nak(delay)


@pytest.mark.parametrize("max_deliver", [1, 3, 5])
def test_last_allowed_delivery_is_dead_lettered(max_deliver: int) -> None:
    assert decide(FAIL, max_deliver, max_deliver, POLICY) == DeadLetter(
        "max_deliver_exceeded:handler_failed"
    )
    if max_deliver > 1:
        assert isinstance(decide(FAIL, max_deliver - 1, max_deliver, POLICY), Nak)


def test_unlimited_deliveries_never_dead_letter_by_count() -> None:
    assert isinstance(decide(FAIL, 10_000, -1, POLICY), Nak)


@pytest.mark.parametrize("delivered", [1, 2, 3])
def test_non_retryable_failure_is_dead_lettered_at_once(delivered: int) -> None:
    outcome = Outcome("failure", "handler_failed", "Error", "never", False)
    assert decide(outcome, delivered, 5, POLICY) == DeadLetter("non_retryable:handler_failed")


@pytest.mark.parametrize(
    "reason", ["invalid_json", "unknown_event_type", "schema_invalid", "missing_envelope_field"]
)
def test_poison_is_dead_lettered_at_once(reason: str) -> None:
    outcome = Outcome("poison", reason, "X", "bad", False)
    assert decide(outcome, 1, 5, POLICY) == DeadLetter(f"poison:{reason}")


def test_delay_survives_huge_delivery_counts() -> None:
    assert RetryPolicy(base_delay=1, factor=10, max_delay=60).delay_for(10**6) == 60
    assert RetryPolicy(base_delay=1).delay_for(0) == 1
