"""Shared test configuration. The ``nats_server`` fixture comes from the qx pytest plugin."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.plain_server import serve

_exporter = InMemorySpanExporter()


@pytest.fixture
def spans() -> InMemorySpanExporter:
    """Finished spans of this test. OTel takes one global provider per process (later ones are
    ignored), so every test module shares this one exporter, attached once to that provider."""
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    if not getattr(provider, "_qx_test_exporter", False):
        provider.add_span_processor(SimpleSpanProcessor(_exporter))
        provider._qx_test_exporter = True  # type: ignore[attr-defined]
    _exporter.clear()
    return _exporter


@pytest.fixture
def no_jetstream_url() -> Iterator[str]:
    """A real nats-server running without JetStream."""
    yield from serve()
