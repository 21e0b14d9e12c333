"""``qxgen dlq``: list, show, replay and purge dead-lettered messages.

A thin layer over ``qx.ops``: each command opens a short-lived connection, calls one library
function and renders the result with ``rich``. Failures an operator can act on (server down,
DLQ stream missing, unknown record id) are printed as one line and exit with status 1; usage
errors keep click's status 2. Bulk actions ask for confirmation unless ``--yes`` is given,
and they only touch records that existed when the confirmation was asked.

Attach with ``register(cli_group)``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click
import nats.errors
from nats.aio.client import Client
from rich.console import Console
from rich.json import JSON
from rich.progress import Progress
from rich.table import Table
from rich.text import Text

from qx import ops
from qx.dlq import DlqRecord
from qx.exceptions import QxError, ReplayError
from qx.worker import WorkerSettings
from qxgen._nats_options import nats_options
from qxgen.commands import Column, QxgenGroup, cap, print_listing
from qxgen.errors import describe_nats_failure

T = TypeVar("T")

DEFAULT_URL = "nats://127.0.0.1:4222"
DEFAULT_DLQ_STREAM: str = WorkerSettings.model_fields["dlq_stream"].default


def _console() -> Console:
    # Built per call so it writes to the current stdout (click's test runner swaps it).
    return Console(highlight=False, soft_wrap=False, emoji=False)


def _run(url: str, action: Callable[[Client], Awaitable[T]]) -> T:
    """Run ``action`` with a connection; turn the failures an operator can fix into one line."""

    async def main() -> T:
        async with ops.connection(url) as nc:
            return await action(nc)

    try:
        return asyncio.run(main())
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    except (QxError, nats.errors.Error, TimeoutError, OSError) as exc:
        raise click.ClickException(describe_nats_failure(exc, url)) from None


def _common(func: Callable[..., Any]) -> Callable[..., Any]:
    func = click.option(
        "--dlq-stream",
        default=lambda: WorkerSettings.setting("dlq_stream"),
        show_default=f"${WorkerSettings.env_name('dlq_stream')} or {DEFAULT_DLQ_STREAM}",
        help="The DLQ stream the workers write to.",
    )(func)
    func = nats_options()(func)
    return func


def _filters(func: Callable[..., Any]) -> Callable[..., Any]:
    func = click.option("--consumer", default=None, help="Only records of this durable consumer.")(
        func
    )
    func = click.option(
        "--type",
        "event_type",
        default=None,
        help="Only this event type (`orders.placed` = any version, `orders.placed.v2` = v2).",
    )(func)
    return func


@click.group("dlq", cls=QxgenGroup)
def dlq() -> None:
    """Inspect and fix dead-lettered messages."""


@dlq.command("list")
@_common
@_filters
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Show at most N.")
def list_command(
    url: str, dlq_stream: str, event_type: str | None, consumer: str | None, limit: int | None
) -> None:
    """List DLQ records, oldest first."""

    async def action(nc: Client) -> list[DlqRecord]:
        return await ops.list_records(
            nc, dlq_stream, event_type=event_type, consumer=consumer, limit=limit
        )

    records = _run(url, action)
    console = _console()
    if not records:
        console.print(
            f"No records in {dlq_stream}" + (" match." if event_type or consumer else ".")
        )
        return
    print_listing(
        console,
        f"{dlq_stream}: {len(records)} record(s)",
        [
            Column("ID", whole=True),  # copied into show/replay: never cut
            Column("Seq", justify="right"),
            Column("Type"),
            Column("Reason"),
            Column("Tries", justify="right"),
            Column("Failed at"),
            Column("Origin"),
        ],
        [
            [
                r.id,
                str(r.dlq_seq),
                ops.event_type_of(r) or "-",
                r.reason,
                str(r.attempts),
                r.failed_at.split(".")[0].replace("T", " "),
                r.origin,
            ]
            for r in records
        ],
    )


@dlq.command("show")
@_common
@click.argument("record_id", metavar="ID")
def show_command(url: str, dlq_stream: str, record_id: str) -> None:
    """Show one record: payload, headers, why it failed, and where to find its trace.

    ID is the record id from `dlq list` (qx-dlq:<stream>:<consumer>:<seq>) or its DLQ
    sequence number.
    """

    async def action(nc: Client) -> tuple[DlqRecord, bytes | None, list[tuple[str, str]] | None]:
        record = await ops.get_record(nc, dlq_stream, record_id)
        try:
            body, headers = await ops.read_omitted(nc, record)
        except ReplayError:
            body, headers = None, None
        return record, body, headers

    r, source_body, source_headers = _run(url, action)
    console = _console()
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column(overflow="fold")
    for name, value in (
        ("ID", r.id),
        ("DLQ seq", f"{r.dlq_seq} in {dlq_stream}"),
        ("Subject", r.subject or "- (original gone)"),
        ("Source", f"{r.stream} seq {r.stream_seq}, consumer {r.consumer}"),
        ("Event type", ops.event_type_of(r) or "-"),
        ("Event id", ops.event_id_of(r) or "-"),
        ("Reason", r.reason),
        ("Error", f"{r.error_type}: {r.error_message}"),
        ("Attempts", str(r.attempts)),
        ("Failed at", r.failed_at),
        ("Origin", r.origin),
        ("Trace id", ops.trace_id_of(r) or "-"),
    ):
        facts.add_row(name, Text(value if name == "ID" else cap(value, 1000)))
    console.print(facts)
    if r.traceback:
        console.print()
        console.print("[bold]Traceback[/bold]")
        console.print(Text(r.traceback))
    console.print()
    where = f"{r.stream} seq {r.stream_seq}"
    pairs = r.headers if source_headers is None else source_headers
    title = "Original headers" + (f" (from {where})" if r.headers_omitted else "")
    headers = Table("Header", "Value", title=title, title_justify="left")
    for key, value in pairs:  # wire order: repeated fields stay visible
        headers.add_row(Text(cap(key, 80)), Text(cap(value)))
    if r.headers_omitted and source_headers is None:
        console.print(f"(not copied: too large, and gone from {where})")
    else:
        console.print(headers)
    console.print()
    console.print("[bold]Payload[/bold]" + (f" (from {where})" if r.payload_omitted else ""))
    body = r.body if source_body is None else source_body
    if r.payload_omitted and source_body is None:
        console.print(f"(not copied: too large, and gone from {where})")
        return
    try:
        console.print(JSON.from_data(json.loads(body)))
    except (UnicodeDecodeError, ValueError, RecursionError):
        console.print(repr(body[:2000]) + (" …" if len(body) > 2000 else ""), markup=False)


def _confirm(question: str, yes: bool) -> None:
    if not yes:
        click.confirm(question, abort=True)


@dlq.command("replay")
@_common
@_filters
@click.argument("record_ids", metavar="[ID]...", nargs=-1)
@click.option("--all", "all_records", is_flag=True, help="Replay every record (after --type).")
@click.option("--yes", "-y", is_flag=True, help="Do not ask before replaying several records.")
def replay_command(
    url: str,
    dlq_stream: str,
    event_type: str | None,
    consumer: str | None,
    record_ids: tuple[str, ...],
    all_records: bool,
    yes: bool,
) -> None:
    """Republish records to their original subjects as fresh deliveries, then remove them.

    Keeps the correlation id and trace, names the original event as the cause, and is
    idempotent: replaying a record twice delivers it once.
    """
    if bool(record_ids) == all_records:
        raise click.UsageError("give record IDs, or --all (optionally with --type/--consumer)")
    console = _console()

    async def action(nc: Client) -> list[ops.Replayed]:
        records = await ops.select_records(
            nc,
            dlq_stream,
            list(record_ids) or None,
            all_records=all_records,
            event_type=event_type,
            consumer=consumer,
        )
        if not records:
            return []
        if len(records) > 1:
            # click.confirm blocks, which is fine: nothing else runs on this loop meanwhile.
            _confirm(f"Replay {len(records)} records from {dlq_stream}?", yes)
        with Progress(console=console, transient=True, disable=len(records) < 2) as progress:
            task = progress.add_task("replaying", total=len(records))
            return await ops.replay_records(
                nc, dlq_stream, records, on_done=lambda _: progress.advance(task)
            )

    results = _run(url, action)
    if not results:
        console.print("Nothing to replay.")
        return
    failed = [r for r in results if not r.ok]
    for r in results:
        if r.ok:
            note = " (already replayed; duplicate dropped)" if r.duplicate else ""
            console.print(f"replayed {r.record_id} -> {r.subject} as {r.event_id}{note}")
        else:
            console.print(f"[red]not replayed[/red] {r.record_id}: {r.error}")
    if failed:
        raise click.ClickException(
            f"{len(failed)} of {len(results)} record(s) not replayed; they stay in {dlq_stream}"
        )


@dlq.command("purge")
@_common
@_filters
@click.argument("record_ids", metavar="[ID]...", nargs=-1)
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
def purge_command(
    url: str,
    dlq_stream: str,
    event_type: str | None,
    consumer: str | None,
    record_ids: tuple[str, ...],
    yes: bool,
) -> None:
    """Delete records for good: the given IDs, or all (matching --type/--consumer)."""

    async def action(nc: Client) -> int:
        state = await ops.dlq_state(nc, dlq_stream)
        if record_ids:
            records = await ops.select_records(
                nc, dlq_stream, list(record_ids), event_type=event_type, consumer=consumer
            )
            what = f"{len(records)} record(s)"
        elif event_type or consumer:
            records = await ops.list_records(
                nc, dlq_stream, event_type=event_type, consumer=consumer
            )
            what = f"{len(records)} matching record(s)"
        else:
            records = []
            what = f"all {state.records} record(s)"
            if state.records == 0:
                return 0
        if (record_ids or event_type or consumer) and not records:
            return 0
        _confirm(f"Delete {what} from {dlq_stream} for good?", yes)
        if records:
            return await ops.purge(nc, dlq_stream, [r.dlq_seq for r in records])
        return await ops.purge(nc, dlq_stream, all_records=True, up_to_seq=state.last_seq)

    removed = _run(url, action)
    _console().print(f"Purged {removed} record(s) from {dlq_stream}.")


def register(group: click.Group) -> None:
    """Add the ops commands (``dlq ...``) to the ``qxgen`` command group."""
    group.add_command(dlq)
