"""What the worker did, for probes, tests and the demo summary (metrics go to OTel too)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Settled:
    """One message's settlement, as seen by listeners (``WorkerRuntime.add_listener``)."""

    subject: str
    stream_seq: int
    delivery: int
    decision: str  # ack | nak | dead_letter
    event_type: str | None
    event_id: str | None
    correlation_id: str | None
    delay: float | None = None
    reason: str | None = None
    error: str | None = None
    trace_id: str | None = None
    dead_letter_written: bool | None = None


@dataclass
class WorkerStats:
    processed: int = 0
    failed: int = 0
    dead_lettered: int = 0
    in_flight: int = 0
    last_progress: float = 0.0
    listeners: list[Callable[[Settled], None]] = field(default_factory=list)

    def notify(self, settled: Settled) -> None:
        for listener in self.listeners:
            listener(settled)
