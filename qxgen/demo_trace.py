"""``make demo-trace``: one HTTP request followed through the outbox, the relay and a worker.

Starts an embedded nats-server and a SQLite database in a temp directory, then in this process
a Starlette endpoint (uvicorn), the outbox relay and a worker, as four independent asyncio
tasks. ``POST /orders`` writes the order and its event in one transaction; the relay publishes
it; the worker's idempotent handler bills it. The trace context travels only the way it does
between real processes: in the outbox row and in the NATS message headers.

Prints the trace id and its span tree with durations (fits 80 columns). With
``OTEL_EXPORTER_OTLP_ENDPOINT`` set, the spans are also exported over OTLP (needs the ``otlp``
extra), so the same trace shows up in Jaeger/Tempo/Honeycomb.

The HTTP server span comes from a ten-line middleware below rather than
opentelemetry-instrumentation-asgi, to keep that dependency out of a demo.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

WIDTH = 80
STREAM = "DEMO_TRACE"
SOURCE = "qx-demo-trace"


def _events() -> type[Any]:
    from qx.events import IntegrationEvent

    class OrderCreated(IntegrationEvent):
        __qx_type__ = "demo.order.created"
        __qx_version__ = 1

        order_id: str
        total: float

    return OrderCreated


OrderCreated = _events()


def install_tracing() -> InMemorySpanExporter:
    """Record spans in memory; also export over OTLP when the standard env var asks for it."""
    exporter = InMemorySpanExporter()
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        from qx.ops import configure_telemetry

        installed = configure_telemetry(service_name=SOURCE)
        provider = installed.tracer_provider
    else:
        provider = None
    if provider is None:
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


def build_app(outbox: Any) -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route
    from starlette.types import ASGIApp, Receive, Scope, Send

    tracer = trace.get_tracer("qx.demo.http")

    def server_spans(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
            name = f"{scope['method']} {scope['path']}"
            with tracer.start_as_current_span(
                name,
                context=propagate.extract(headers),
                kind=SpanKind.SERVER,
                attributes={"http.request.method": scope["method"], "url.path": scope["path"]},
            ):
                await app(scope, receive, send)

        return middleware

    async def create_order(request: Request) -> JSONResponse:
        body = await request.json()
        order_id = str(uuid.uuid4())
        async with outbox.transaction() as tx:
            await tx.session.execute(
                _sql("INSERT INTO orders (id, total) VALUES (:id, :total)"),
                {"id": order_id, "total": float(body["total"])},
            )
            event_id = await tx.publish(
                OrderCreated(order_id=order_id, total=float(body["total"])), key=order_id
            )
        return JSONResponse({"order_id": order_id, "event_id": event_id}, status_code=201)

    app = Starlette(routes=[Route("/orders", create_order, methods=["POST"])])
    return server_spans(app)


def _sql(statement: str) -> Any:
    from sqlalchemy import text

    return text(statement)


def make_handler(outbox: Any) -> type[Any]:
    from qx.core import Result
    from qx.cqrs import integration_event_handler
    from qx.outbox import Transaction, idempotent

    @integration_event_handler(OrderCreated)
    class BillOrder:
        def __init__(self) -> None:
            self.outbox = outbox

        @idempotent("billing")
        async def handle(self, event: Any, tx: Transaction) -> Result[None]:
            await tx.session.execute(
                _sql("INSERT INTO invoices (order_id, amount) VALUES (:o, :a)"),
                {"o": event.order_id, "a": event.total},
            )
            return Result.success(None)

    return BillOrder


@contextlib.asynccontextmanager
async def running(coro: Awaitable[None], stop: Callable[[], Any]) -> AsyncIterator[None]:
    task = asyncio.ensure_future(coro)
    try:
        yield
    finally:
        result = stop()
        if asyncio.iscoroutine(result):
            await result
        await asyncio.wait_for(task, 15)


async def demo(workdir: Path, exporter: InMemorySpanExporter) -> tuple[str, list[ReadableSpan]]:
    import httpx
    import nats
    import uvicorn

    from qx.cqrs import Mediator
    from qx.embedded import EmbeddedNatsServer, free_port
    from qx.events import ConsumerSettings, EventRegistry, NatsConsumer, NatsSettings
    from qx.outbox import Outbox, Relay, RelaySettings
    from qx.worker import WorkerRuntime

    with EmbeddedNatsServer(workdir / "nats") as server:
        outbox = Outbox.from_url(f"sqlite:///{workdir / 'shop.db'}", source=SOURCE)
        await outbox.migrate()
        async with outbox.engine.begin() as conn:
            await conn.execute(_sql("CREATE TABLE orders (id TEXT PRIMARY KEY, total REAL)"))
            await conn.execute(_sql("CREATE TABLE invoices (order_id TEXT, amount REAL)"))
        registry = EventRegistry()
        registry.register(OrderCreated)
        worker = WorkerRuntime(
            consumer=NatsConsumer(
                NatsSettings(url=server.url),
                ConsumerSettings(stream=STREAM, durable="billing", subjects=["demo.>"]),
            ),
            registry=registry,
            mediator=Mediator([make_handler(outbox)]),
            fetch_timeout=0.2,
        )
        acked = asyncio.Event()
        worker.add_listener(lambda s: acked.set() if s.decision == "ack" else None)
        nc = await nats.connect(server.url)
        relay = Relay(outbox.engine, nc, RelaySettings(poll_interval=0.02), name="demo-relay")
        port = free_port()
        http = uvicorn.Server(
            uvicorn.Config(
                build_app(outbox), host="127.0.0.1", port=port, log_level="warning", lifespan="off"
            )
        )

        def stop_http() -> None:
            http.should_exit = True

        async with (
            running(worker.run(), worker.stop),
            running(relay.run(), relay.stop),
            running(http.serve(), stop_http),
        ):
            await asyncio.wait_for(worker.wait_running(), 15)
            await asyncio.wait_for(relay.wait_running(), 15)
            while not http.started:  # noqa: ASYNC110 - uvicorn exposes only this flag
                await asyncio.sleep(0.01)
            async with httpx.AsyncClient() as client:
                response = await client.post(
                    f"http://127.0.0.1:{port}/orders", json={"total": 42.5}, timeout=10
                )
            response.raise_for_status()
            await asyncio.wait_for(acked.wait(), 15)
            await _spans_settle(exporter)
        await nc.close()
        await outbox.close()
    spans = list(exporter.get_finished_spans())
    roots = [s for s in spans if s.kind == SpanKind.SERVER]
    if len(roots) != 1:
        raise RuntimeError(f"expected one HTTP server span, got {len(roots)}")
    trace_id = roots[0].context.trace_id
    return format(trace_id, "032x"), [s for s in spans if s.context.trace_id == trace_id]


async def _spans_settle(exporter: InMemorySpanExporter) -> None:
    """The worker acks before its consumer span ends; wait for that span, bounded."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if any(s.kind == SpanKind.CONSUMER for s in exporter.get_finished_spans()):
            return
        await asyncio.sleep(0.01)


def render_tree(trace_id: str, spans: Sequence[ReadableSpan], width: int = WIDTH) -> list[str]:
    """The spans as an indented tree, children under parents, with start offset and duration."""
    by_parent: dict[int | None, list[ReadableSpan]] = {}
    ids = {s.context.span_id for s in spans}
    for span in spans:
        parent = span.parent.span_id if span.parent and span.parent.span_id in ids else None
        by_parent.setdefault(parent, []).append(span)
    start = min((s.start_time or 0) for s in spans) if spans else 0
    lines = [f"trace {trace_id}", f"{'span':<{width - 22}}{'start':>10}{'duration':>12}"]

    def walk(parent: int | None, prefix: str, top: bool) -> None:
        children = sorted(by_parent.get(parent, []), key=lambda s: s.start_time or 0)
        for i, span in enumerate(children):
            last = i == len(children) - 1
            branch = "" if top else ("└─ " if last else "├─ ")
            label = f"{prefix}{branch}{span.name} [{span.kind.name}]"
            offset = ((span.start_time or 0) - start) / 1e6
            duration = ((span.end_time or 0) - (span.start_time or 0)) / 1e6
            room = width - 22
            if len(label) > room:
                label = label[: room - 1] + "…"
            lines.append(f"{label:<{room}}{offset:>8.1f}ms{duration:>10.1f}ms")
            walk(span.context.span_id, prefix + ("" if top else ("   " if last else "│  ")), False)

    walk(None, "", True)
    return lines


def main() -> None:
    exporter = install_tracing()
    with tempfile.TemporaryDirectory(prefix="qx-demo-trace-") as tmp:
        print("qx demo-trace: nats-server + SQLite outbox + HTTP endpoint + relay + worker")
        print("POST /orders {'total': 42.5} ...")
        trace_id, spans = asyncio.run(demo(Path(tmp), exporter))
    for line in render_tree(trace_id, spans):
        print(line)
    provider = trace.get_tracer_provider()
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") and hasattr(provider, "force_flush"):
        provider.force_flush()
        print(f"exported over OTLP to {os.environ['OTEL_EXPORTER_OTLP_ENDPOINT']}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
