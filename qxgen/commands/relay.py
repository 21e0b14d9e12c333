"""``qxgen relay``: run the transactional-outbox relay of a service, or print its schema.

The same code as a generated service's ``python -m <pkg>.relay`` (``qx.outbox.relay_process``),
so it connects, waits for its server and fails (one line, exit 78/69) the same way; the
connection flags are the ones every ``qxgen`` command that talks to NATS takes, and options
override the ``QX_OUTBOX_*`` / ``NATS_*`` environment variables.
"""

from __future__ import annotations

import asyncio
from typing import Any

import click

from qx.exceptions import QxError
from qxgen._nats_options import nats_options
from qxgen.commands._console import console


@click.command()
@click.option(
    "--database",
    "database_url",
    envvar="QX_OUTBOX_DATABASE_URL",
    help="sqlite:///service.db or postgresql://user@host/db (env QX_OUTBOX_DATABASE_URL).",
)
@nats_options()
@click.option("--name", help="Relay name in logs and in the SQLite lease (default: random).")
@click.option("--migrate-only", is_flag=True, help="Create/upgrade the outbox tables and exit.")
@click.option(
    "--print-sql",
    type=click.Choice(["sqlite", "postgresql"]),
    help="Print the outbox/inbox schema for your own migration tool and exit.",
)
def relay(
    database_url: str | None,
    url: str,
    name: str | None,
    migrate_only: bool,
    print_sql: str | None,
) -> None:
    """Publish events from a service's outbox table to JetStream until Ctrl-C."""
    from qx import ops
    from qx.events import NatsSettings
    from qx.outbox import Outbox, RelaySettings, relay_process, schema_sql

    if print_sql:
        click.echo(schema_sql("postgresql" if print_sql == "postgresql" else "sqlite"), nl=False)
        return
    overrides: dict[str, Any] = {"database_url": database_url} if database_url else {}
    if migrate_only:
        if not database_url:
            raise click.UsageError("--migrate-only needs --database (or QX_OUTBOX_DATABASE_URL)")
        try:
            applied = asyncio.run(_migrate(Outbox, database_url))
        except (QxError, OSError) as exc:
            raise click.ClickException(f"migration failed: {exc}") from None
        done = ", ".join(str(v) for v in applied) if applied else "none (up to date)"
        console.print(f"outbox schema migrations applied: {done}")
        return
    # url is a NatsTarget: the flags and NATS_* already resolved (secrets included).
    nats = url.settings if isinstance(url, ops.NatsTarget) else NatsSettings(url=url)
    relay_process(lambda: RelaySettings(**overrides), lambda: nats, name=name)


async def _migrate(outbox_cls: Any, url: str) -> list[int]:
    box = outbox_cls.from_url(url, source="qxgen-relay")
    try:
        return list(await box.migrate())
    finally:
        await box.close()
