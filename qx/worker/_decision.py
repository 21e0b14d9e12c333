"""What to do with a message: a pure function of facts already known.

Kept free of I/O so every combination can be tested exhaustively without a server. Every nak
delay the worker sends is decided in this module: after an outcome (``decide``), after a
failed DLQ write (``after_dead_letter_failure``), after a failed settlement
(``after_settle_failure``) and for an advisory whose record could not be written
(``advisory_retry``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from qx.worker._settings import RetryPolicy

OutcomeKind = Literal["success", "failure", "poison"]


@dataclass(frozen=True, slots=True)
class Outcome:
    kind: OutcomeKind
    # A machine code: handler_failed, handler_error, handler_timeout, invalid_json, ...
    reason: str = ""
    error_type: str = ""
    message: str = ""
    retryable: bool = True
    # The exception behind a failure, if any: logged with its traceback, recorded on the span
    # and available to the DLQ writer. Not part of equality (outcomes compare by meaning).
    exception: BaseException | None = field(default=None, compare=False, repr=False)

    @staticmethod
    def success() -> Outcome:
        return _SUCCESS


_SUCCESS = Outcome("success")


@dataclass(frozen=True, slots=True)
class Ack:
    kind: Literal["ack"] = "ack"


@dataclass(frozen=True, slots=True)
class Nak:
    delay: float
    kind: Literal["nak"] = "nak"


@dataclass(frozen=True, slots=True)
class DeadLetter:
    reason: str
    kind: Literal["dead_letter"] = "dead_letter"


Decision = Ack | Nak | DeadLetter

_ACK = Ack()


def decide(outcome: Outcome, num_delivered: int, max_deliver: int, retry: RetryPolicy) -> Decision:
    """Ack on success; dead-letter poison, non-retryable failures and the last allowed
    delivery; otherwise nak with an exponential delay. ``max_deliver <= 0`` = unlimited."""
    if outcome.kind == "success":
        return _ACK
    if outcome.kind == "poison":
        return DeadLetter(f"poison:{outcome.reason}")
    if not outcome.retryable:
        return DeadLetter(f"non_retryable:{outcome.reason}")
    if max_deliver > 0 and num_delivered >= max_deliver:
        return DeadLetter(f"max_deliver_exceeded:{outcome.reason}")
    return Nak(retry.delay_for(num_delivered))


def after_dead_letter_failure(num_delivered: int, max_deliver: int, retry: RetryPolicy) -> Nak:
    """The DLQ write failed, so the message is not terminated but nak'd. On its last allowed
    delivery a plain nak (delay 0) makes the max-deliveries advisory fire at once, well inside
    the DLQ's dedup window, and the advisory path writes the record."""
    if max_deliver > 0 and num_delivered >= max_deliver:
        return Nak(0.0)
    return Nak(retry.delay_for(num_delivered))


def after_settle_failure(num_delivered: int, retry: RetryPolicy) -> Nak:
    """Settling raised (the connection broke, say): retry as a failed attempt would."""
    return Nak(retry.delay_for(num_delivered))


def advisory_retry(num_delivered: int, retry: RetryPolicy) -> Nak:
    """An advisory whose DLQ record could not be written is retried with the usual backoff."""
    return Nak(retry.delay_for(num_delivered))
