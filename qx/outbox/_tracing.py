"""Spans of the outbox path: the write inside the service's transaction and the inbox handler.

The relay's send span is the ordinary ``qx.telemetry.producer_span`` with the stored trace
context as its parent; this module only adds the two spans that exist because of the outbox.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind

from qx.telemetry import attributes as a

_tracer = trace.get_tracer("qx.outbox")

AGGREGATE_KEY = "qx.outbox.aggregate_key"
INBOX_CONSUMER = "qx.inbox.consumer"
INBOX_DUPLICATE = "qx.inbox.duplicate"


@contextmanager
def write_span(
    subject: str, *, event_id: str, event_type: str, key: str | None
) -> Iterator[dict[str, str]]:
    """``outbox write <subject>``; yields the W3C trace headers to store with the row, so the
    relay's send span, minutes or a restart later, is this span's child."""
    attributes: dict[str, str] = {
        a.MESSAGING_DESTINATION: subject,
        a.CLOUDEVENTS_ID: event_id,
        a.CLOUDEVENTS_TYPE: event_type,
    }
    if key is not None:
        attributes[AGGREGATE_KEY] = key
    with _tracer.start_as_current_span(
        f"outbox write {subject}", kind=SpanKind.INTERNAL, attributes=attributes
    ):
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        yield carrier


def stored_context(traceparent: str | None, tracestate: str | None) -> Context | None:
    if not traceparent:
        return None
    carrier = {"traceparent": traceparent}
    if tracestate:
        carrier["tracestate"] = tracestate
    return propagate.extract(carrier)


@contextmanager
def inbox_span(consumer: str, *, event_id: str) -> Iterator[Span]:
    """``handle <consumer>``: the idempotent handler's transaction, under the consumer span."""
    with _tracer.start_as_current_span(
        f"handle {consumer}",
        kind=SpanKind.INTERNAL,
        attributes={INBOX_CONSUMER: consumer, a.MESSAGING_MESSAGE_ID: event_id},
    ) as span:
        yield span
