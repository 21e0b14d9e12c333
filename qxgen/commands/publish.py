"""``qxgen publish``: send a schema-valid event to a running server, by hand or in bulk.

The payload is checked against the generated registry before anything is sent, so a typo
becomes a one-line error here instead of a poison message in the worker's DLQ. The event goes
out through ``NatsPublisher``, the same CloudEvents encoder services use, so what the worker
sees is exactly what production producers send.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.js.api import PubAck
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from qx import ops
from qx.events import EventRegistry, IntegrationEvent, NatsPublisher, event_meta
from qx.exceptions import QxError
from qxgen._nats_options import nats_options
from qxgen.commands._service import EventSchema, load_service
from qxgen.errors import QxgenError, describe_nats_failure

DEFAULT_URL = "nats://127.0.0.1:4222"
SOURCE = "qxgen-publish"


@dataclass(frozen=True, slots=True)
class Sent:
    event_id: str
    stream: str
    seq: int


def read_payload(data: str | None, file: str | None, example: bool) -> tuple[str, str | None]:
    """(where the payload came from, its JSON text); ``None`` text means "the schema example"."""
    given = [flag for flag, value in (("--data", data), ("--file", file)) if value is not None]
    if example:
        given.append("--example")
    if len(given) != 1:
        raise click.UsageError(
            "give the payload with exactly one of --data JSON, --file F or --example"
            + (f" (got {', '.join(given)})" if given else "")
        )
    if data is not None:
        return "--data", data
    if file is not None:
        if file == "-":
            return "stdin", sys.stdin.read()
        try:
            return file, Path(file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise click.ClickException(f"cannot read {file}: {exc}") from None
    return "example", None


def parse_json(origin: str, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise click.ClickException(
            f"invalid JSON in {origin}: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None


def build_event(schema: EventSchema, registry: EventRegistry, data: Any) -> IntegrationEvent:
    """Validate exactly as the worker will, so nothing unreadable is ever sent."""
    try:
        event: IntegrationEvent = registry.build(schema.type, schema.version, data)
    except QxError as exc:
        raise click.ClickException(
            f"payload is not a valid {schema.label}: {exc}; nothing was sent"
        ) from None
    return event


async def send(
    nc: Client,
    event: IntegrationEvent,
    *,
    count: int,
    tenant: str | None,
    correlation_id: str | None,
    on_sent: Callable[[], None] | None = None,
) -> list[Sent]:
    """Publish ``count`` copies, each with its own event id (the same id would be deduplicated
    by JetStream, and the worker would see one message)."""
    publisher = NatsPublisher(nc, source=SOURCE)
    sent = []
    for _ in range(count):
        event_id = str(uuid.uuid4())
        ack: PubAck = await publisher.publish(
            event, event_id=event_id, tenant_id=tenant, correlation_id=correlation_id
        )
        sent.append(Sent(event_id, ack.stream, ack.seq))
        if on_sent is not None:
            on_sent()
    return sent


async def check_stream(nc: Client, subject: str, url: str) -> None:
    """Fail fast with advice when no stream stores the subject (the worker creates it on its
    first start); JetStream would otherwise only answer "no responders" after retries."""
    try:
        await nc.jetstream().find_stream_name_by_subject(subject)
    except nats.js.errors.NotFoundError:
        raise click.ClickException(
            f"no stream on {url} stores {subject}; start the worker once (it creates the "
            "stream) or run `qxgen dev`"
        ) from None


@click.command()
@click.argument("event_type", metavar="TYPE")
@click.option("--version", "version", type=click.IntRange(min=1), help="Event version.")
@click.option("--data", help="The payload as a JSON document.")
@click.option("--file", help="Read the JSON payload from a file (`-` for stdin).")
@click.option("--example", is_flag=True, help="Use the first `examples` entry of the schema.")
@click.option("--count", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--tenant", help="Tenant id (ce-tenantid).")
@click.option("--correlation-id", help="Correlation id (default: the event id).")
@nats_options()
@click.option(
    "--project",
    "-C",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    help="Project directory with pyproject.toml (default: nearest one with [tool.qxgen]).",
)
@click.option("--package", help="Generated package (default: [tool.qxgen].package).")
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    help="Directory holding the package (default: [tool.qxgen].out or the project).",
)
def publish(
    event_type: str,
    version: int | None,
    data: str | None,
    file: str | None,
    example: bool,
    count: int,
    tenant: str | None,
    correlation_id: str | None,
    url: str,
    project: Path | None,
    package: str | None,
    out: Path | None,
) -> None:
    """Validate a TYPE event against its schema, then publish it as a CloudEvent.

    TYPE is the event type, e.g. orders.order.placed or orders.order.placed.v1.
    """
    origin, text = read_payload(data, file, example)
    try:
        service = load_service(project, package=package, out=out)
        schema = service.event(event_type, version)
        payload = schema.example() if text is None else parse_json(origin, text)
        registry = service.registry()
    except QxgenError as exc:
        raise click.ClickException(str(exc)) from None
    event = build_event(schema, registry, payload)
    subject = event_meta(type(event)).subject
    console = Console(highlight=False, soft_wrap=True, emoji=False)

    async def main() -> list[Sent]:
        # OTEL_* as in a worker: with an SDK and exporter configured, each publish is a
        # PRODUCER span the worker's consumer span joins; without, a fresh traceparent is sent.
        telemetry = ops.configure_telemetry(service_name=SOURCE)
        try:
            return await _publish()
        finally:
            telemetry.shutdown()

    async def _publish() -> list[Sent]:
        async with ops.connection(url) as nc:
            await check_stream(nc, subject, url)
            if count == 1:
                return await send(nc, event, count=1, tenant=tenant, correlation_id=correlation_id)
            with Progress(
                TextColumn("publishing {task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
                transient=True,
            ) as progress:
                task = progress.add_task(schema.label, total=count)
                return await send(
                    nc,
                    event,
                    count=count,
                    tenant=tenant,
                    correlation_id=correlation_id,
                    on_sent=lambda: progress.advance(task),
                )

    try:
        sent = asyncio.run(main())
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    except (QxError, nats.errors.Error, TimeoutError, OSError) as exc:
        raise click.ClickException(describe_nats_failure(exc, url)) from None
    first, last = sent[0], sent[-1]
    if count == 1:
        console.print(
            f"published {escape(schema.label)} to {escape(subject)}: id {first.event_id}, "
            f"stream {escape(first.stream)} seq {first.seq}"
        )
    else:
        console.print(
            f"published {count} x {escape(schema.label)} to {escape(subject)}: stream "
            f"{escape(first.stream)} seq {first.seq}..{last.seq}"
        )
