"""Applying the plain-SQL migrations shipped in ``qx/outbox/migrations/<dialect>/``.

Hand-rolled rather than Alembic: the outbox owns three tables that services embed in their own
databases, where the service usually runs its own Alembic history already; a second Alembic
environment inside a library clashes with it. Plain numbered SQL files can be applied by this
runner, copied into the service's migrations, or run with psql/sqlite3.
Applied versions are recorded in ``qx_outbox_schema``; each file runs in one transaction
(PostgreSQL also takes an advisory lock, so relays starting together migrate once).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from qx.outbox._database import Dialect, dialect_of, utcnow
from qx.outbox._schema import migrations_table

_FILE = re.compile(r"^(?P<version>[0-9]{4})_(?P<name>[a-z0-9_]+)\.sql$")
_MIGRATION_LOCK = 0x71780001  # pg_advisory_xact_lock key: "qx" + outbox schema

_CREATE_TRACKING = """
CREATE TABLE IF NOT EXISTS qx_outbox_schema (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at {ts} NOT NULL
)"""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    def statements(self) -> list[str]:
        return split_statements(self.sql)


def migrations(dialect: Dialect) -> list[Migration]:
    """The shipped migrations for ``dialect``, oldest first."""
    folder = resources.files("qx.outbox").joinpath("migrations", dialect)
    found = []
    for entry in folder.iterdir():
        m = _FILE.match(entry.name)
        if m:
            found.append(Migration(int(m["version"]), m["name"], entry.read_text("utf-8")))
    return sorted(found, key=lambda mig: mig.version)


def schema_sql(dialect: Dialect) -> str:
    """Every migration for ``dialect`` as one script (``qxgen relay --print-sql``)."""
    return "\n".join(f"-- {m.version:04d}_{m.name}.sql\n{m.sql}" for m in migrations(dialect))


def split_statements(sql: str) -> list[str]:
    """Split a script on ``;`` at line ends, keeping ``$$``-quoted function bodies whole.

    Drivers run one statement per call (asyncpg prepares each), so the runner needs this; the
    files stay ordinary scripts that psql and sqlite3 read as they are.
    """
    statements: list[str] = []
    current: list[str] = []
    in_dollar = False
    for line in sql.splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("--")):
            continue
        current.append(line)
        if line.count("$$") % 2:
            in_dollar = not in_dollar
        if not in_dollar and stripped.endswith(";"):
            statements.append("\n".join(current).rstrip().rstrip(";"))
            current = []
    if current and "\n".join(current).strip():
        statements.append("\n".join(current).rstrip().rstrip(";"))
    return statements


async def migrate(engine: AsyncEngine) -> list[int]:
    """Apply the migrations this database has not seen; returns the versions applied."""
    dialect = dialect_of(engine)
    applied: list[int] = []
    async with engine.begin() as conn:
        if dialect == "postgresql":
            await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK})
        ts = "TIMESTAMPTZ" if dialect == "postgresql" else "TEXT"
        await conn.exec_driver_sql(_CREATE_TRACKING.format(ts=ts))
        done = await _applied(conn)
        for migration in migrations(dialect):
            if migration.version in done:
                continue
            for statement in migration.statements():
                await conn.exec_driver_sql(statement)
            await conn.execute(
                migrations_table.insert().values(
                    version=migration.version, name=migration.name, applied_at=utcnow()
                )
            )
            applied.append(migration.version)
    return applied


async def _applied(conn: AsyncConnection) -> set[int]:
    rows = await conn.execute(select(migrations_table.c.version))
    return {int(v) for (v,) in rows}
