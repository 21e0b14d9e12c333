"""The consumer span continues the producer's trace across a real NATS hop."""

from __future__ import annotations

import pytest
from nats.aio.client import Client
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from qx.core import Result
from qx.cqrs import integration_event_handler
from qx.exceptions import NonRetryableError
from qx.testing import WorkerHarness
from tests.runtime.conftest import Names, WorkerFactory
from tests.runtime.events import OrderPlaced
from tests.runtime.helpers import publish

pytestmark = pytest.mark.nats


async def test_consumer_span_is_child_of_producer_span(
    spans: InMemorySpanExporter, make_worker: WorkerFactory, nc: Client, names: Names
) -> None:
    @integration_event_handler(OrderPlaced)
    class Handler:
        async def handle(self, event: OrderPlaced) -> Result[None]:
            if event.order_id == "bad":
                return Result.failure("nope", retryable=False)
            if event.order_id == "raises":
                raise NonRetryableError("the order refers to a deleted customer")
            return Result.success(None)

    tracer = trace.get_tracer("test")
    async with WorkerHarness(make_worker([Handler])) as h:
        with tracer.start_as_current_span("checkout") as root:
            await publish(nc, names.prefix, OrderPlaced(order_id="ok", total=1), event_id="e-ok")
            await publish(nc, names.prefix, OrderPlaced(order_id="bad", total=1), event_id="e-bad")
            await publish(nc, names.prefix, OrderPlaced(order_id="raises", total=1), event_id="e-r")
        await h.wait_settled(3)

    finished = spans.get_finished_spans()
    producers = [s for s in finished if s.kind == SpanKind.PRODUCER]
    consumers = {s.attributes["messaging.message.id"]: s for s in finished
                 if s.kind == SpanKind.CONSUMER}  # fmt: skip
    assert len(producers) == 3
    ok = consumers["e-ok"]
    producer = next(p for p in producers if p.attributes["messaging.message.id"] == "e-ok")
    assert ok.name == f"process {names.prefix}.orders.order.placed.v1"
    assert ok.context.trace_id == root.get_span_context().trace_id
    assert ok.parent is not None
    assert ok.parent.span_id == producer.context.span_id
    assert [link.context.span_id for link in ok.links] == [producer.context.span_id]
    assert ok.attributes["messaging.system"] == "nats"
    assert ok.attributes["messaging.consumer.group.name"] == names.durable
    assert ok.attributes["messaging.nats.message.delivery_count"] == 1
    assert ok.attributes["messaging.message.conversation_id"] == "e-ok"
    assert ok.attributes["qx.settlement"] == "ack"
    assert ok.status.status_code == StatusCode.UNSET
    assert ok.attributes["server.address"] == "127.0.0.1"
    assert isinstance(ok.attributes["server.port"], int)
    assert "error.type" not in ok.attributes
    bad = consumers["e-bad"]
    assert bad.status.status_code == StatusCode.ERROR
    assert bad.attributes["qx.settlement"] == "dead_letter"
    assert bad.attributes["error.type"] == "handler_failed"  # the Result's error code
    raised = consumers["e-r"]
    assert raised.attributes["error.type"] == "NonRetryableError"
    assert [e.name for e in raised.events] == ["exception"]
    assert {s.trace_id for s in h.settled} == {format(root.get_span_context().trace_id, "032x")}
