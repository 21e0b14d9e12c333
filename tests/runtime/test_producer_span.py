"""The producer span records what was meant, not its wire encoding."""

from __future__ import annotations

import pytest
from nats.aio.client import Client
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from qx.telemetry import _produce
from tests.runtime.conftest import Names
from tests.runtime.events import OrderPlaced
from tests.runtime.helpers import publish

pytestmark = pytest.mark.nats


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> InMemorySpanExporter:
    # A provider of the test's own: the global one can be set once per process and belongs to
    # whichever tracing test runs first in this worker.
    provider = TracerProvider()
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(_produce, "_tracer", provider.get_tracer("qx.publisher"))
    return exporter


async def test_correlation_id_is_recorded_decoded(
    spans: InMemorySpanExporter, nc: Client, names: Names
) -> None:
    await nc.jetstream().add_stream(name=names.stream, subjects=[f"{names.prefix}.>"])
    correlation = "Bestellung 42 für Zürich %"
    await publish(nc, names.prefix, OrderPlaced(order_id="1", total=1), correlation_id=correlation)
    (producer,) = [s for s in spans.get_finished_spans() if s.kind == SpanKind.PRODUCER]
    assert producer.attributes is not None
    assert producer.attributes["messaging.message.conversation_id"] == correlation
