"""Engines for the two supported databases, configured the way the outbox needs them.

SQLite: WAL (readers never block the writer), a busy timeout instead of instant "database is
locked" errors, and ``BEGIN IMMEDIATE`` for every transaction. pysqlite's own transaction
handling starts transactions lazily and as DEFERRED, so two writers can both read and then
deadlock on the upgrade to a write lock; taking the write lock up front serialises writers,
which is also what makes outbox ``id`` order equal commit order. This is the recipe in
SQLAlchemy's SQLite dialect documentation ("Serializable isolation / Savepoints").
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from qx.exceptions import ConfigurationError

Dialect = Literal["sqlite", "postgresql"]

SQLITE_BUSY_TIMEOUT_MS = 10_000

_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg"}


def async_url(url: str) -> str:
    """``sqlite:///x.db`` / ``postgresql://...`` with the async driver qx uses filled in."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend not in _DRIVERS:
        raise ConfigurationError(
            f"outbox database {parsed.render_as_string(hide_password=True)!r} is not supported; "
            "use sqlite:///path.db or postgresql://user@host/db"
        )
    if "+" not in parsed.drivername:
        parsed = parsed.set(drivername=_DRIVERS[backend])
    return parsed.render_as_string(hide_password=False)


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An ``AsyncEngine`` for the outbox. Extra keyword arguments go to SQLAlchemy."""
    engine = create_async_engine(async_url(url), **kwargs)
    if dialect_of(engine) == "sqlite":
        _configure_sqlite(engine)
    return engine


def dialect_of(engine: AsyncEngine) -> Dialect:
    name = engine.dialect.name
    if name == "sqlite":
        return "sqlite"
    if name == "postgresql":
        return "postgresql"
    raise ConfigurationError(f"qx.outbox supports SQLite and PostgreSQL, not {name}")


def utcnow() -> datetime:
    return datetime.now(UTC)


def _configure_sqlite(engine: AsyncEngine) -> None:
    sync = engine.sync_engine

    @event.listens_for(sync, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Hand transaction control to SQLAlchemy's "begin" event below.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")  # durable across process crashes in WAL
        cursor.close()

    @event.listens_for(sync, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
