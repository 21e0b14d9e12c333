"""What to do with a message: a pure function of facts already known.

Kept free of I/O so every combination can be tested exhaustively without a server.
"""

from __future__ import annotations

from dataclasses import dataclass
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
