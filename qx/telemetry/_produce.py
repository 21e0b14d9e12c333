"""The producer span and trace-context injection into outgoing headers.

Every published message carries a W3C ``traceparent``, so a trace can start at a script or a
CLI and the consumer joins it. With an OpenTelemetry SDK installed the producer span provides
it. Without one (the API alone records nothing), the current context is propagated if there
is one (inside a handler: the consumed message's trace), and otherwise a fresh, valid trace
context is generated: random trace and span ids, flags ``01`` (sampled), so a consumer whose
SDK samples by parent records the trace that started here.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind

from qx.telemetry import _attributes as a

_tracer = trace.get_tracer("qx.publisher")
TRACEPARENT = "traceparent"


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
    """Write W3C ``traceparent``/``tracestate`` for the current span into ``headers``; a new
    trace context when there is no current one (no SDK, no incoming trace)."""
    before = len(headers)
    propagate.inject(headers)
    if len(headers) == before:  # nothing propagated (an OTEL_PROPAGATORS choice is respected)
        headers[TRACEPARENT] = new_traceparent()


def new_traceparent() -> str:
    """A valid W3C traceparent for a trace that starts here (ids never all zeros)."""
    trace_id = secrets.randbits(128) or 1
    span_id = secrets.randbits(64) or 1
    return f"00-{trace_id:032x}-{span_id:016x}-01"
