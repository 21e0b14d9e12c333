"""``qxgen relay``: run the transactional-outbox relay of a service, or print its schema.

The same code as a generated service's ``python -m <pkg>.relay`` (``qx.outbox.run_relay``);
options override the ``QX_OUTBOX_*`` / ``NATS_URL`` environment variables.
"""

from __future__ import annotations

import asyncio
from typing import Any

import click
from pydantic import ValidationError

from qx.exceptions import QxError
from qxgen.commands._console import console


@click.command()
@click.option(
    "--database",
    "database_url",
    envvar="QX_OUTBOX_DATABASE_URL",
    help="sqlite:///service.db or postgresql://user@host/db (env QX_OUTBOX_DATABASE_URL).",
)
@click.option("--nats-url", envvar="NATS_URL", help="NATS server URL (env NATS_URL).")
@click.option("--name", help="Relay name in logs and in the SQLite lease (default: random).")
@click.option("--migrate-only", is_flag=True, help="Create/upgrade the outbox tables and exit.")
@click.option(
    "--print-sql",
    type=click.Choice(["sqlite", "postgresql"]),
    help="Print the outbox/inbox schema for your own migration tool and exit.",
)
def relay(
    database_url: str | None,
    nats_url: str | None,
    name: str | None,
    migrate_only: bool,
    print_sql: str | None,
) -> None:
    """Publish events from a service's outbox table to JetStream until Ctrl-C."""
    from qx.events import NatsSettings
    from qx.outbox import Outbox, RelaySettings, run_relay, schema_sql
    from qx.outbox._main import describe_settings_error

    if print_sql:
        click.echo(schema_sql("postgresql" if print_sql == "postgresql" else "sqlite"), nl=False)
        return
    overrides: dict[str, Any] = {"database_url": database_url} if database_url else {}
    try:
        settings = RelaySettings(**overrides)
        nats = NatsSettings(url=nats_url) if nats_url else NatsSettings()
    except ValidationError as exc:
        raise click.ClickException(describe_settings_error(exc)) from None
    try:
        if migrate_only:
            if not settings.database_url:
                raise click.UsageError(
                    "--migrate-only needs --database (or QX_OUTBOX_DATABASE_URL)"
                )
            applied = asyncio.run(_migrate(Outbox, settings.database_url))
            done = ", ".join(str(v) for v in applied) if applied else "none (up to date)"
            console.print(f"outbox schema migrations applied: {done}")
            return
        asyncio.run(run_relay(settings, nats=nats, name=name))
    except (QxError, OSError) as exc:
        raise click.ClickException(f"relay failed: {exc}") from None


async def _migrate(outbox_cls: Any, url: str) -> list[int]:
    box = outbox_cls.from_url(url, source="qxgen-relay")
    try:
        return list(await box.migrate())
    finally:
        await box.close()
