"""The producer span and trace-context injection into outgoing headers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind

from qx.telemetry import _attributes as a

_tracer = trace.get_tracer("qx.publisher")


@contextmanager
def producer_span(
    subject: str,
    *,
    event_id: str,
    event_type: str,
    correlation_id: str,
    parent: Context | None = None,
) -> Iterator[Span]:
    """``parent``: a context extracted from elsewhere (the outbox relay passes the trace stored
    with the row), instead of the current one."""
    with _tracer.start_as_current_span(
        f"send {subject}",
        context=parent,
        kind=SpanKind.PRODUCER,
        attributes={
            a.MESSAGING_SYSTEM: a.SYSTEM_NATS,
            a.MESSAGING_OPERATION_TYPE: "send",
            a.MESSAGING_OPERATION_NAME: "send",
            a.MESSAGING_DESTINATION: subject,
            a.MESSAGING_MESSAGE_ID: event_id,
            a.CLOUDEVENTS_ID: event_id,
            a.CLOUDEVENTS_TYPE: event_type,
            a.MESSAGING_CONVERSATION_ID: correlation_id,
        },
    ) as span:
        yield span


def inject_trace_headers(headers: dict[str, str]) -> None:
    """Write W3C ``traceparent``/``tracestate`` for the current span into ``headers``."""
    propagate.inject(headers)
