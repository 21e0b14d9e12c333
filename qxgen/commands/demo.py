"""``qxgen demo`` (``make demo``): the whole loop on the example service, in one command.

Generate, start an embedded nats-server, run the worker, publish one event built from each
schema's ``examples`` plus a payment the ledger cannot book, wait until every message reached
a final state, then print what happened: handled, retried (with the backoff delays), dead-
lettered (with the reason and the record in the DLQ stream) and the trace ids joining producer
and consumer. Everything is real (server, JetStream, CloudEvents headers, OpenTelemetry SDK
spans); only the timings are shortened (3 deliveries, 0.2 s base backoff) so it ends in seconds.

It runs on the repository's ``examples/shop_service``, whose payment-captured handler fails
retryably for CHF (its ledger is "in maintenance") and whose payment-failed handler is the
unimplemented stub qxgen generates: the two ways a message ends in the DLQ.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
from opentelemetry import trace
from rich.console import Console
from rich.markup import escape

from qx import ops
from qx.dlq import DlqRecord
from qx.embedded import EmbeddedNatsServer
from qx.events import NatsPublisher
from qx.exceptions import QxError
from qx.worker import Settled
from qxgen.commands._running import (
    listening,
    settlement_line,
    stale_server_pid,
    stop_stale_server,
)
from qxgen.commands._service import EventSchema, GeneratedService, load_service
from qxgen.commands._table import Column, print_listing
from qxgen.config import load_config
from qxgen.errors import QxgenError
from qxgen.generator import plan
from qxgen.output import write

REPO = Path(__file__).resolve().parents[2]
PROJECT = REPO / "examples" / "shop_service"
STORE = REPO / ".qx" / "demo"
# The example's payment handler cannot book CHF (see its handlers/payment_captured_v1.py).
FAILING_CURRENCY = "CHF"
SETTLE_TIMEOUT = 30.0
DEMO_SETTINGS: dict[str, Any] = {
    "max_deliver": 3,
    "backoff_base": 0.2,
    "backoff_factor": 2.0,
    "ack_wait": 5.0,
    "fetch_timeout": 0.5,
    "concurrency": 4,
    "shutdown_timeout": 5.0,
    "dlq_stream": "QX_DLQ",
}


@dataclass
class Published:
    schema: EventSchema
    event_id: str
    correlation_id: str
    trace_id: str | None
    note: str = ""
    settled: list[Settled] = field(default_factory=list)

    @property
    def final(self) -> Settled | None:
        last = self.settled[-1] if self.settled else None
        if last is None or last.decision == "nak":
            return None
        return last


def _generate(console: Console) -> None:
    config = load_config(PROJECT)
    report = write(plan(config), config.out)
    changed = [*report.wrote, *report.created, *report.deleted]
    where = config.display(config.out)
    if changed:
        for path in changed:
            console.print(f"  wrote {escape(path)}")
        console.print(f"[bold]qxgen generate[/]: {len(changed)} file(s) updated in {where}")
    else:
        files = len(report.unchanged) + len(report.kept)
        console.print(
            f"[bold]qxgen generate[/]: {escape(PROJECT.relative_to(REPO).as_posix())} is up to "
            f"date ({files} files)"
        )


def _install_tracing() -> bool:
    """An SDK TracerProvider, so spans get real ids and the worker's span joins the producer's
    trace across the wire. Nothing is exported: the ids are what the demo shows."""
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
    except ImportError:
        return False
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        resource = Resource.create({"service.name": "shop-service-demo"})
        trace.set_tracer_provider(TracerProvider(resource=resource))
    return True


def _fresh_server(console: Console) -> EmbeddedNatsServer:
    server = EmbeddedNatsServer(STORE)
    stale = stale_server_pid(server)
    if stale is not None:
        console.print(f"stopping nats-server pid {stale} left running by an earlier demo")
        stop_stale_server(stale)
    shutil.rmtree(STORE, ignore_errors=True)
    server = EmbeddedNatsServer(STORE)
    server.start()
    return server


def _show_handler_logs(console: Console, package: str) -> None:
    """Handler log lines, dimmed, between the settlement lines: they show the handlers ran.
    qx's own warnings repeat what the settlement lines say, so only its errors are shown."""

    class ToConsole(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            style = "dim" if record.levelno < logging.WARNING else "red"
            console.print(f"      [{style}]{escape(record.getMessage())}[/]")

    handler = ToConsole()
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.ERROR)
    logging.getLogger(package).setLevel(logging.INFO)


def _payloads(service: GeneratedService) -> list[tuple[EventSchema, Any, str]]:
    """One example per event, plus a payment in the currency the ledger cannot book."""
    out: list[tuple[EventSchema, Any, str]] = []
    for schema in service.events():
        out.append((schema, schema.example(), ""))
        if schema.type == "payments.payment.captured":
            failing = {
                **schema.example(),
                "payment_id": str(uuid.uuid4()),
                "order_id": str(uuid.uuid4()),
                "amount": {"amount": "42.00", "currency": FAILING_CURRENCY},
            }
            out.append((schema, failing, FAILING_CURRENCY))
    return out


async def _exercise(
    service: GeneratedService, url: str, console: Console
) -> tuple[list[Published], list[DlqRecord]]:
    build, settings_cls = service.worker()
    registry = service.registry()
    tracer = trace.get_tracer("qxgen.demo")
    published: list[Published] = []
    by_id: dict[str, Published] = {}
    changed = asyncio.Event()

    def on_settled(settled: Settled) -> None:
        console.print(settlement_line(settled))
        item = by_id.get(settled.event_id or "")
        if item is not None:
            item.settled.append(settled)
        changed.set()

    os.environ["NATS_URL"] = url
    async with listening(build(settings_cls(**DEMO_SETTINGS)), on_settled) as worker:
        run = asyncio.create_task(worker.run(), name="demo-worker")
        try:
            while not worker.is_ready:  # bounded: run() raises if it cannot start
                if run.done():
                    run.result()
                await asyncio.sleep(0.02)
            async with ops.connection(url) as nc:
                publisher = NatsPublisher(nc, source="qxgen-demo")
                for schema, payload, note in _payloads(service):
                    event = registry.build(schema.type, schema.version, payload)  # validates
                    item = Published(
                        schema, str(uuid.uuid4()), f"demo-{uuid.uuid4().hex[:8]}", None, note
                    )
                    by_id[item.event_id] = item
                    published.append(item)
                    with tracer.start_as_current_span(f"demo publish {schema.label}") as span:
                        ctx = span.get_span_context()
                        item.trace_id = format(ctx.trace_id, "032x") if ctx.is_valid else None
                        await publisher.publish(
                            event, event_id=item.event_id, correlation_id=item.correlation_id
                        )
                    console.print(f"  [blue]→[/] published {escape(schema.label)}")
                deadline = time.monotonic() + SETTLE_TIMEOUT
                while not all(p.final for p in published):
                    if run.done():
                        run.result()
                        raise RuntimeError("the worker stopped before every event settled")
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        pending = [p.schema.label for p in published if not p.final]
                        raise TimeoutError(
                            f"not settled within {SETTLE_TIMEOUT:.0f}s: {', '.join(pending)}"
                        )
                    changed.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(changed.wait(), remaining)
                records = await ops.list_records(nc, DEMO_SETTINGS["dlq_stream"])
        finally:
            await worker.stop()
            await run
    return published, records


def _summary(
    console: Console, published: list[Published], records: list[DlqRecord], url: str
) -> None:
    rows = []
    joined = 0
    for p in published:
        final = p.final
        assert final is not None
        delays = [f"{s.delay:.2f}s" for s in p.settled if s.decision == "nak" and s.delay]
        if p.trace_id and all(s.trace_id == p.trace_id for s in p.settled):
            joined += 1
        rows.append(
            [
                p.schema.label + (f" ({p.note})" if p.note else ""),
                "handled" if final.decision == "ack" else "dead-lettered",
                str(final.delivery),
                ", ".join(delays) or "-",
                p.correlation_id,
                p.trace_id or "-",
            ]
        )
    console.print()
    print_listing(
        console,
        "What happened",
        [
            Column("Event"),
            Column("Outcome"),
            Column("Tries", justify="right"),
            Column("Backoff"),
            Column("Correlation id", whole=True),  # ids kept whole: people search for them
            Column("Trace id", whole=True),
        ],
        rows,
    )
    console.print()

    handled = [p for p in published if p.final and p.final.decision == "ack"]
    retried = [p for p in published if any(s.decision == "nak" for s in p.settled)]
    dead = [p for p in published if p.final and p.final.decision == "dead_letter"]
    console.print(f"[bold]Handled:[/] {len(handled)} of {len(published)} events")
    for p in retried:
        delays = [f"{s.delay or 0:.2f}s" for s in p.settled if s.decision == "nak"]
        console.print(
            f"[bold]Retried:[/] {escape(p.schema.label)} {len(delays)} time(s), "
            f"backoff delays {', '.join(delays)}"
        )
    for p in dead:
        final = p.final
        assert final is not None
        console.print(
            f"[bold]Dead-lettered:[/] {escape(p.schema.label)} after {final.delivery} "
            f"deliver{'y' if final.delivery == 1 else 'ies'}: {escape(final.reason or '')}: "
            f"{escape(final.error or '')}"
        )
    console.print(f"[bold]DLQ stream {DEMO_SETTINGS['dlq_stream']}:[/] {len(records)} record(s)")
    for r in records:
        console.print(
            f"  {escape(r.id)}  {escape(ops.event_type_of(r) or '-')}  attempts {r.attempts}  "
            f"trace {escape(ops.trace_id_of(r) or '-')}"
        )
    console.print(
        f"[bold]Traces:[/] the worker's span joined the producer's trace for {joined} of "
        f"{len(published)} events (OpenTelemetry SDK, trace ids above)"
    )
    console.print(
        "[bold]Next:[/] with a server running (`cd examples/shop_service && qxgen dev`), "
        f"`qxgen dlq list --url {escape(url)}` lists records like these, `qxgen dlq show ID` "
        "shows one and `qxgen dlq replay ID` sends it back to the worker."
    )


def run_demo(console: Console) -> None:
    started = time.monotonic()
    if not (PROJECT / "pyproject.toml").is_file():
        raise click.ClickException(
            f"{PROJECT} not found: the demo runs from a qx source checkout (`make demo`)"
        )
    try:
        _generate(console)
        service = load_service(PROJECT)
    except QxgenError as exc:
        raise click.ClickException(str(exc)) from None
    if not _install_tracing():
        console.print("OpenTelemetry SDK not installed (pip install 'qx[otel]'): no trace ids")
    server = _fresh_server(console)
    console.print(f"[bold]nats-server[/]: {server.url} (JetStream, store .qx/demo/)")
    console.print(
        f"[bold]worker[/]: {escape(service.package)}, max_deliver="
        f"{DEMO_SETTINGS['max_deliver']}, backoff {DEMO_SETTINGS['backoff_base']}s, "
        f"doubling per delivery"
    )
    _show_handler_logs(console, service.package)
    try:
        published, records = asyncio.run(_exercise(service, server.url, console))
    except (QxError, TimeoutError, RuntimeError) as exc:
        raise click.ClickException(f"demo failed: {exc}") from None
    finally:
        server.stop()
    _summary(console, published, records, "nats://127.0.0.1:4222")
    console.print(
        f"worker and nats-server stopped; demo took {time.monotonic() - started:.1f}s",
        style="dim",
    )


@click.command()
def demo() -> None:
    """Run the example service end to end on an embedded nats-server and summarise it."""
    # soft_wrap: long lines are left to the terminal, never broken into a pipe. The summary is a
    # table when it fits the terminal, else one block per event: nothing cut at 80 columns.
    run_demo(Console(highlight=False, soft_wrap=True, emoji=False))
