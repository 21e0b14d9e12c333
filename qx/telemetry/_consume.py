"""The consumer span: one per message, child of the producer's span across the wire."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext

from opentelemetry import propagate, trace
from opentelemetry.trace import (
    INVALID_SPAN,
    Link,
    ProxyTracerProvider,
    Span,
    SpanKind,
    Status,
    StatusCode,
)

from qx.telemetry import _attributes as a

_tracer = trace.get_tracer("qx.worker")


_NO_SPAN: AbstractContextManager[Span] = nullcontext(INVALID_SPAN)


def consumer_span(
    subject: str,
    headers: Mapping[str, str],
    *,
    consumer: str,
    delivery_count: int,
    stream_seq: int,
    body_size: int,
) -> AbstractContextManager[Span]:
    """Open ``process <subject>`` (kind CONSUMER) with the extracted producer context as parent
    and as a link, so backends that show either relationship connect the two traces.

    Fast path: with no SDK installed and no incoming ``traceparent`` there is nothing to record
    or pass on, and skipping the no-op span machinery saves ~25 µs per message (bench/).
    """
    if "traceparent" not in headers and isinstance(
        trace.get_tracer_provider(), ProxyTracerProvider
    ):
        return _NO_SPAN
    return _consumer_span(
        subject,
        headers,
        consumer=consumer,
        delivery_count=delivery_count,
        stream_seq=stream_seq,
        body_size=body_size,
    )


@contextmanager
def _consumer_span(
    subject: str,
    headers: Mapping[str, str],
    *,
    consumer: str,
    delivery_count: int,
    stream_seq: int,
    body_size: int,
) -> Iterator[Span]:
    parent = propagate.extract(headers)
    producer = trace.get_current_span(parent).get_span_context()
    links = [Link(producer)] if producer.is_valid else None
    with _tracer.start_as_current_span(
        f"process {subject}",
        context=parent,
        kind=SpanKind.CONSUMER,
        links=links,
        record_exception=False,
        set_status_on_exception=False,
        attributes={
            a.MESSAGING_SYSTEM: a.SYSTEM_NATS,
            a.MESSAGING_OPERATION_TYPE: "process",
            a.MESSAGING_OPERATION_NAME: "process",
            a.MESSAGING_DESTINATION: subject,
            a.MESSAGING_CONSUMER_GROUP: consumer,
            a.MESSAGING_DELIVERY_COUNT: delivery_count,
            a.MESSAGING_STREAM_SEQ: stream_seq,
            a.MESSAGING_BODY_SIZE: body_size,
        },
    ) as span:
        yield span


def annotate_envelope(
    span: Span, *, event_id: str, event_type: str, correlation_id: str, tenant_id: str | None
) -> None:
    if not span.is_recording():
        return
    span.set_attribute(a.MESSAGING_MESSAGE_ID, event_id)
    span.set_attribute(a.CLOUDEVENTS_ID, event_id)
    span.set_attribute(a.CLOUDEVENTS_TYPE, event_type)
    span.set_attribute(a.MESSAGING_CONVERSATION_ID, correlation_id)
    if tenant_id:
        span.set_attribute(a.TENANT_ID, tenant_id)


def mark_failed(span: Span, description: str, exc: BaseException | None = None) -> None:
    if not span.is_recording():
        return
    if exc is not None:
        span.record_exception(exc)
    span.set_status(Status(StatusCode.ERROR, description))


def current_trace_id() -> str | None:
    ctx = trace.get_current_span().get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else None
