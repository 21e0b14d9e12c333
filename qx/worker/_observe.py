"""Observe: the one place that reports a settled message (span, metrics, stats, log,
listeners), so the pipeline itself never touches telemetry or counters.

A failure is logged once, with its traceback when an exception caused it: a warning when the
message will be retried, an error when it goes to the DLQ.
"""

from __future__ import annotations

import logging
import time

from opentelemetry.trace import Span

from qx.core import RequestContext
from qx.events import Envelope
from qx.telemetry import annotate_envelope, attributes, mark_failed, metrics
from qx.worker._decision import Ack, DeadLetter, Decision, Nak, Outcome
from qx.worker._facts import Delivery
from qx.worker._stats import Settled, WorkerStats

log = logging.getLogger("qx.worker")
SETTLEMENT = attributes.SETTLEMENT


class Observer:
    def __init__(self, stats: WorkerStats) -> None:
        self.stats = stats

    def started(self) -> None:
        self.stats.in_flight += 1
        metrics.in_flight.add(1)

    def finished(self) -> None:
        self.stats.in_flight -= 1
        metrics.in_flight.add(-1)

    def settled(
        self,
        span: Span,
        d: Delivery,
        env: Envelope | None,
        ctx: RequestContext | None,
        outcome: Outcome,
        decided: Decision,
        done: Decision,
        written: bool | None,
        trace_id: str | None,
        started: float,
    ) -> None:
        """``decided`` is what ``decide()`` said (reported to spans, logs and listeners);
        ``done`` what was carried out (counted): a failed DLQ write turns into a nak."""
        if span.is_recording():
            if env is not None:
                annotate_envelope(
                    span,
                    event_id=env.event_id,
                    event_type=env.event_type,
                    correlation_id=env.correlation_id,
                    tenant_id=env.tenant_id,
                )
            if outcome.kind != "success":
                description = f"{outcome.reason}: {outcome.message}"
                mark_failed(span, description, outcome.exception, outcome.error_type)
            span.set_attribute(SETTLEMENT, decided.kind)
        if outcome.kind != "success":
            self._log_failure(d, ctx, outcome, decided)
        attrs = {"messaging.destination.name": d.subject}
        stats = self.stats
        if isinstance(done, Ack):
            stats.processed += 1
            metrics.processed.add(1, attrs)
        elif isinstance(done, Nak):
            stats.failed += 1
            metrics.failed.add(1, attrs)
        else:
            stats.dead_lettered += 1
            metrics.dead_lettered.add(1, {**attrs, "qx.reason": done.reason})
        metrics.duration.record(
            time.perf_counter() - started, {**attrs, "qx.settlement": decided.kind}
        )
        if stats.listeners:
            stats.notify(
                Settled(
                    subject=d.subject,
                    stream_seq=d.seq,
                    delivery=d.delivered,
                    decision=decided.kind,
                    event_type=env.event_type if env is not None else None,
                    event_id=ctx.event_id if ctx else None,
                    correlation_id=ctx.correlation_id if ctx else None,
                    delay=decided.delay if isinstance(decided, Nak) else None,
                    reason=decided.reason if isinstance(decided, DeadLetter) else None,
                    error=None if outcome.kind == "success" else outcome.message,
                    trace_id=trace_id,
                    dead_letter_written=written,
                )
            )

    def _log_failure(
        self, d: Delivery, ctx: RequestContext | None, outcome: Outcome, done: Decision
    ) -> None:
        if isinstance(done, Nak):
            action, level = f"retry in {done.delay:.2f}s", logging.WARNING
        else:
            action, level = f"dead-letter ({getattr(done, 'reason', '')})", logging.ERROR
        exc = outcome.exception
        log.log(
            level,
            "%s on %s (delivery %d, correlation_id=%s, tenant_id=%s): %s: %s -> %s",
            outcome.reason,
            d.subject,
            d.delivered,
            ctx.correlation_id if ctx else "-",
            (ctx.tenant_id or "-") if ctx else "-",
            outcome.error_type,
            outcome.message,
            action,
            # The traceback is what an operator needs to fix a handler; a poison message's
            # exception is our own decoding error, whose message already says everything.
            exc_info=exc if exc is not None and outcome.kind == "failure" else None,
            extra={
                "correlation_id": ctx.correlation_id if ctx else None,
                "tenant_id": ctx.tenant_id if ctx else None,
            },
        )
