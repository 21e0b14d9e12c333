"""Writing events to the outbox inside the caller's database transaction.

The row holds everything the relay needs to publish later without the event class: the
complete wire headers and body as ``encode_cloudevent`` produced them (so what is published is
exactly what a direct ``NatsPublisher.publish`` would have sent), the CloudEvents attributes
and ids as columns for operators, and the trace context of the write.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
)

from qx.core import RequestContext
from qx.events import IntegrationEvent, encode_cloudevent, parse_envelope
from qx.outbox._database import Dialect, create_engine, dialect_of, utcnow
from qx.outbox._migrate import migrate
from qx.outbox._schema import inbox_table, outbox_table
from qx.outbox._tracing import write_span

_TRACE_HEADERS = ("traceparent", "tracestate")

Executor = AsyncSession | AsyncConnection


class Outbox:
    """The service's database as seen by the outbox: an engine, sessions, and ``add()``.

    ``source`` is the CloudEvents source of every event written (usually the service name).
    """

    def __init__(self, engine: AsyncEngine, *, source: str) -> None:
        self.engine = engine
        self.source = source
        self.dialect: Dialect = dialect_of(engine)
        self.sessions = async_sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def from_url(cls, url: str, *, source: str, **engine_kwargs: Any) -> Outbox:
        """``sqlite:///service.db`` (WAL, the embedded default) or ``postgresql://...``."""
        return cls(create_engine(url, **engine_kwargs), source=source)

    async def migrate(self) -> list[int]:
        """Create or upgrade the outbox/inbox tables; returns the schema versions applied."""
        return await migrate(self.engine)

    async def close(self) -> None:
        await self.engine.dispose()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """A session in a transaction: committed on normal exit, rolled back on an exception
        or after ``Transaction.rollback()``."""
        async with self.sessions() as session:
            tx = Transaction(self, session)
            try:
                yield tx
            except BaseException:
                await session.rollback()
                raise
            if tx.rollback_only:
                await session.rollback()
            else:
                await session.commit()

    async def add(
        self,
        db: Executor,
        event: IntegrationEvent,
        *,
        key: str | None = None,
        subject: str | None = None,
        event_id: str | None = None,
        tenant_id: str | None = None,
        correlation_id: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> str:
        """Queue ``event`` in the transaction of ``db`` (a session or connection); returns its
        event id. Nothing is published unless that transaction commits.

        ``key`` (aggregate key, e.g. the order id) orders publication: events with one key
        are published in commit order. Events without a key may overtake each other.
        """
        extra = {k: v for k, v in (headers or {}).items() if k.lower() not in _TRACE_HEADERS}
        out = encode_cloudevent(
            event,
            source=self.source,
            context=RequestContext.current(),
            event_id=event_id,
            subject=subject,
            tenant_id=tenant_id,
            correlation_id=correlation_id,
            extra_headers=extra,
        )
        # Read back through the one CloudEvents reader, so columns match what consumers see.
        env = parse_envelope(out.subject, out.headers, out.body)
        with write_span(
            out.subject, event_id=out.event_id, event_type=env.event_type, key=key
        ) as tc:
            if key is not None and self.dialect == "postgresql":
                # Writers of one key wait for each other until commit, so per-key id order is
                # commit order even though identity values are handed out at insert time.
                await db.execute(
                    text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": key}
                )
            await db.execute(
                outbox_table.insert().values(
                    event_id=out.event_id,
                    aggregate_key=key,
                    subject=out.subject,
                    event_type=env.event_type,
                    event_version=env.event_version or 1,
                    source=self.source,
                    event_time=env.time or "",
                    correlation_id=env.correlation_id,
                    causation_id=env.causation_id,
                    tenant_id=env.tenant_id,
                    traceparent=tc.get("traceparent"),
                    tracestate=tc.get("tracestate"),
                    headers=out.headers,
                    payload=out.body.decode("utf-8"),
                    created_at=utcnow(),
                    attempts=0,
                )
            )
        return out.event_id

    async def record_inbox(self, db: Executor, consumer: str, event_id: str) -> bool:
        """Insert (consumer, event id); False if it was already there (a redelivery).

        On PostgreSQL a concurrent delivery of the same event waits here until the first
        transaction ends, then sees its row (or takes over if that one rolled back).
        """
        values = {"consumer": consumer, "event_id": event_id, "processed_at": utcnow()}
        insert = postgresql.insert if self.dialect == "postgresql" else sqlite.insert
        stmt = insert(inbox_table).values(**values).on_conflict_do_nothing()
        result = await db.execute(stmt)
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]


class Transaction:
    """One unit of work: the SQLAlchemy ``session`` plus ``publish()`` through the outbox."""

    def __init__(self, outbox: Outbox, session: AsyncSession) -> None:
        self.outbox = outbox
        self.session = session
        self.rollback_only = False

    async def publish(
        self,
        event: IntegrationEvent,
        *,
        key: str | None = None,
        subject: str | None = None,
        event_id: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> str:
        """Queue ``event``; it is published by the relay once this transaction commits."""
        return await self.outbox.add(
            self.session, event, key=key, subject=subject, event_id=event_id, headers=headers
        )

    def rollback(self) -> None:
        """Discard everything at the end of the block instead of committing."""
        self.rollback_only = True
