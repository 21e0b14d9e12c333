"""The relay: publishes committed outbox rows to JetStream and marks them sent.

Guarantees and how they are kept:

* At least once, no loss: a row is marked sent only after its PubAck. A crash between the
  PubAck and the mark leaves the row pending; the republish carries ``Nats-Msg-Id`` = event id,
  so JetStream drops it inside the stream's duplicate window (and the inbox catches it after).
* Per-key commit order: rows of one aggregate key are published one after the other, each
  after the previous PubAck, and a relay only publishes a key's rows when they are that key's
  oldest pending rows (PostgreSQL), or while it alone holds the lease (SQLite).
* Several relays: PostgreSQL relays claim batches with ``FOR UPDATE SKIP LOCKED`` and hold the
  row locks until the mark commits, so no row is published by two relays at once. SQLite has
  one writer anyway, so relays share a lease row; the holder renews it, the others wait for it
  to expire.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from nats.aio.client import Client
from sqlalchemy import Select, delete, func, or_, select, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from qx.exceptions import QxError
from qx.outbox._database import dialect_of, utcnow
from qx.outbox._migrate import migrate
from qx.outbox._schema import inbox_table, lease_table, outbox_table
from qx.outbox._settings import RelaySettings
from qx.outbox._tracing import stored_context
from qx.telemetry import inject_trace_headers, producer_span
from qx.transport import publish_with_retry

log = logging.getLogger("qx.outbox.relay")

CHANNEL = "qx_outbox"  # the NOTIFY channel of the PostgreSQL migration's trigger
_LEASE = "relay"
_ERROR_LIMIT = 500

_t = outbox_table.c
_COLUMNS = (
    _t.id,
    _t.event_id,
    _t.aggregate_key,
    _t.subject,
    _t.event_type,
    _t.correlation_id,
    _t.traceparent,
    _t.tracestate,
    _t.headers,
    _t.payload,
)


@dataclass(slots=True)
class RelayStats:
    published: int = 0
    duplicates: int = 0  # PubAcks saying JetStream had the message already (a republish)
    failures: int = 0
    batches: int = 0


@dataclass(slots=True)
class _Outcome:
    sent: list[int]
    failed: list[tuple[int, str]]
    event_ids: list[str]


class Relay:
    """Publishes the outbox of one database until ``stop()``.

    ``on_published(event_ids)`` runs after a batch's PubAcks and before the rows are marked
    sent (metrics, and the crash tests that kill the relay exactly there).
    """

    def __init__(
        self,
        engine: AsyncEngine,
        nc: Client,
        settings: RelaySettings | None = None,
        *,
        name: str | None = None,
        on_published: Callable[[Sequence[str]], None] | None = None,
    ) -> None:
        self.engine = engine
        self.nc = nc
        self.settings = settings or RelaySettings()
        self.dialect = dialect_of(engine)
        self.name = name or f"relay-{uuid.uuid4().hex[:12]}"
        self.on_published = on_published
        self.stats = RelayStats()
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._started = asyncio.Event()
        self._lease_until: datetime | None = None
        self._next_lease_try = 0.0
        self._listener: Any = None
        self._listen_conn: AsyncConnection | None = None

    # -- public --------------------------------------------------------------------------

    async def run(self) -> None:
        """Relay until ``stop()``; survives database and NATS hiccups by retrying."""
        if self.settings.migrate:
            await migrate(self.engine)
        loop = asyncio.get_running_loop()
        next_cleanup = loop.time()
        try:
            await self._listen()
            self._started.set()
            while not self._stopping.is_set():
                try:
                    count = await self.relay_once()
                    if loop.time() >= next_cleanup:
                        await self.cleanup()
                        next_cleanup = loop.time() + self.settings.cleanup_interval
                except (TimeoutError, QxError, OSError) as exc:
                    log.warning("relay %s: %r; retrying in %.1fs", self.name, exc, 1.0)
                    count = 0
                    await self._sleep(1.0)
                    continue
                except Exception:
                    log.exception("relay %s: unexpected error; retrying in 1s", self.name)
                    count = 0
                    await self._sleep(1.0)
                    continue
                if count < self.settings.batch_size:
                    await self._sleep(self.settings.poll_interval)
        finally:
            await self._unlisten()
            await self._release_lease()

    async def wait_running(self) -> None:
        """Return once ``run()`` has migrated and is listening/polling."""
        await self._started.wait()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    def wake(self) -> None:
        """Look for rows now (a writer in this process just committed some)."""
        self._wake.set()

    async def relay_once(self) -> int:
        """Publish one batch; returns how many rows were handled (sent or failed)."""
        if self.dialect == "postgresql":
            return await self._relay_postgresql()
        return await self._relay_sqlite()

    async def pending(self) -> int:
        async with self.engine.connect() as conn:
            count = await conn.scalar(
                select(func.count()).select_from(outbox_table).where(_t.sent_at.is_(None))
            )
        return int(count or 0)

    async def cleanup(self) -> tuple[int, int]:
        """Delete sent rows past ``retention`` and inbox rows past ``inbox_retention``."""
        now = utcnow()
        async with self.engine.begin() as conn:
            sent = await conn.execute(
                delete(outbox_table).where(
                    _t.sent_at.is_not(None),
                    _t.sent_at < now - timedelta(seconds=self.settings.retention),
                )
            )
            seen = await conn.execute(
                delete(inbox_table).where(
                    inbox_table.c.processed_at
                    < now - timedelta(seconds=self.settings.inbox_retention)
                )
            )
        removed = (int(sent.rowcount), int(seen.rowcount))
        if any(removed):
            log.info("relay %s removed %d sent outbox rows, %d inbox rows", self.name, *removed)
        return removed

    def _next_batch(self) -> Select[Any]:
        """The oldest pending rows, up to a batch (each dialect adds how it claims them)."""
        return (
            select(*_COLUMNS)
            .where(_t.sent_at.is_(None))
            .order_by(_t.id)
            .limit(self.settings.batch_size)
        )

    # -- PostgreSQL: SKIP LOCKED --------------------------------------------------------

    async def _relay_postgresql(self) -> int:
        async with self.engine.connect() as conn, conn.begin():
            next_batch = self._next_batch().with_for_update(skip_locked=True)
            rows = (await conn.execute(next_batch)).all()
            if not rows:
                return 0
            rows = await self._oldest_per_key(conn, rows)
            outcome = await self._publish(rows)
            await self._mark(conn, outcome)
        return len(outcome.sent) + len(outcome.failed)

    async def _oldest_per_key(self, conn: AsyncConnection, rows: Sequence[Any]) -> list[Any]:
        """Keep, per key, only the claimed rows that are that key's oldest pending ones.

        Another relay may hold older rows of the same key (locked, so skipped by our query):
        publishing ours first would break the key's order, so they wait for the next round.
        """
        last: dict[str, int] = {}
        for row in rows:
            if row.aggregate_key is not None:
                last[row.aggregate_key] = row.id
        if not last:
            return list(rows)
        pending = await conn.execute(
            select(_t.aggregate_key, _t.id)
            .where(
                _t.sent_at.is_(None),
                _t.aggregate_key.in_(list(last)),
                _t.id <= max(last.values()),
            )
            .order_by(_t.id)
        )
        expected: dict[str, list[int]] = {}
        for key, row_id in pending:
            if row_id <= last[key]:
                expected.setdefault(key, []).append(row_id)
        position: dict[str, int] = {}
        blocked: set[str] = set()
        kept = []
        for row in rows:
            key = row.aggregate_key
            if key is None:
                kept.append(row)
                continue
            if key in blocked:
                continue
            i = position.get(key, 0)
            if i < len(expected[key]) and expected[key][i] == row.id:
                position[key] = i + 1
                kept.append(row)
            else:
                blocked.add(key)
        return kept

    # -- SQLite: a lease ----------------------------------------------------------------

    async def _relay_sqlite(self) -> int:
        if not await self._hold_lease():
            return 0
        async with self.engine.connect() as conn, conn.begin():
            rows = (await conn.execute(self._next_batch())).all()
        if not rows:
            return 0
        outcome = await self._publish(rows)
        async with self.engine.connect() as conn, conn.begin():
            await self._mark(conn, outcome)
        return len(outcome.sent) + len(outcome.failed)

    async def _hold_lease(self) -> bool:
        loop_now = asyncio.get_running_loop().time()
        now = utcnow()
        ttl = timedelta(seconds=self.settings.lease_ttl)
        if self._lease_until is not None and now < self._lease_until - ttl * (2 / 3):
            return True  # renewed recently enough
        if self._lease_until is None and loop_now < self._next_lease_try:
            return False  # a standby asks every third of the ttl, not every poll
        self._next_lease_try = loop_now + self.settings.lease_ttl / 3
        lease = lease_table.c
        async with self.engine.connect() as conn, conn.begin():
            taken = await conn.execute(
                update(lease_table)
                .where(lease.name == _LEASE, or_(lease.owner == self.name, lease.expires_at < now))
                .values(owner=self.name, expires_at=now + ttl)
            )
            got = taken.rowcount == 1
            if not got:
                created = await conn.execute(
                    sqlite.insert(lease_table)
                    .values(name=_LEASE, owner=self.name, expires_at=now + ttl)
                    .on_conflict_do_nothing()
                )
                got = created.rowcount == 1
        if got and self._lease_until is None:
            log.info("relay %s holds the outbox lease", self.name)
        self._lease_until = now + ttl if got else None
        return got

    async def _release_lease(self) -> None:
        if self.dialect != "sqlite" or self._lease_until is None:
            return
        try:
            async with self.engine.begin() as conn:
                await conn.execute(
                    delete(lease_table).where(
                        lease_table.c.name == _LEASE, lease_table.c.owner == self.name
                    )
                )
        except Exception as exc:  # the lease simply expires
            log.warning("relay %s could not release its lease: %r", self.name, exc)
        self._lease_until = None

    # -- publishing ------------------------------------------------------------------------

    async def _publish(self, rows: Sequence[Any]) -> _Outcome:
        """Different keys in parallel, each key's rows in order; a failure stops its key."""
        groups: dict[object, list[Any]] = {}
        for row in rows:
            group = row.aggregate_key if row.aggregate_key is not None else ("id", row.id)
            groups.setdefault(group, []).append(row)
        outcome = _Outcome([], [], [])
        await asyncio.gather(*(self._publish_group(g, outcome) for g in groups.values()))
        self.stats.batches += 1
        if self.on_published is not None and outcome.event_ids:
            self.on_published(outcome.event_ids)
        return outcome

    async def _publish_group(self, rows: list[Any], outcome: _Outcome) -> None:
        for row in rows:
            try:
                await self._publish_row(row)
            except (TimeoutError, QxError, OSError) as exc:
                self.stats.failures += 1
                log.error(
                    "relay %s could not publish outbox row %d (event %s to %s): %s; it stays "
                    "pending and is retried, later events with key %r wait for it",
                    self.name,
                    row.id,
                    row.event_id,
                    row.subject,
                    exc,
                    row.aggregate_key,
                )
                outcome.failed.append((row.id, str(exc)[:_ERROR_LIMIT]))
                return
            outcome.sent.append(row.id)
            outcome.event_ids.append(row.event_id)

    async def _publish_row(self, row: Any) -> None:
        headers: dict[str, str] = dict(row.headers)
        headers["Nats-Msg-Id"] = row.event_id
        with producer_span(
            row.subject,
            event_id=row.event_id,
            event_type=row.event_type,
            correlation_id=row.correlation_id,
            parent=stored_context(row.traceparent, row.tracestate),
        ):
            inject_trace_headers(headers)
            ack = await publish_with_retry(
                self.nc,
                row.subject,
                row.payload.encode("utf-8"),
                headers,
                attempts=self.settings.publish_attempts,
                timeout=self.settings.publish_timeout,
            )
        self.stats.published += 1
        if ack.duplicate:
            self.stats.duplicates += 1

    async def _mark(self, conn: AsyncConnection, outcome: _Outcome) -> None:
        if outcome.sent:
            await conn.execute(
                update(outbox_table)
                .where(_t.id.in_(outcome.sent))
                .values(sent_at=utcnow(), attempts=_t.attempts + 1, last_error=None)
            )
        for row_id, error in outcome.failed:
            await conn.execute(
                update(outbox_table)
                .where(_t.id == row_id)
                .values(attempts=_t.attempts + 1, last_error=error)
            )

    # -- waking up ---------------------------------------------------------------------------

    async def _sleep(self, seconds: float) -> None:
        if self._stopping.is_set():
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)
        self._wake.clear()

    async def _listen(self) -> None:
        """PostgreSQL: LISTEN on the trigger's channel; polling remains the fallback."""
        if self.dialect != "postgresql" or not self.settings.listen:
            return
        try:
            conn = await self.engine.connect()
            raw = await conn.get_raw_connection()
            driver = raw.driver_connection
            add_listener = getattr(driver, "add_listener", None)
            if add_listener is None:
                await conn.close()
                log.info("relay %s: driver has no LISTEN support; polling", self.name)
                return

            def notified(*_args: object) -> None:
                self._wake.set()

            await add_listener(CHANNEL, notified)
            self._listen_conn, self._listener = conn, notified
        except Exception as exc:
            log.warning("relay %s: LISTEN %s failed (%r); polling instead", self.name, CHANNEL, exc)

    async def _unlisten(self) -> None:
        conn, self._listen_conn = self._listen_conn, None
        if conn is None:
            return
        try:
            raw = await conn.get_raw_connection()
            driver: Any = raw.driver_connection
            await driver.remove_listener(CHANNEL, self._listener)
        except Exception as exc:
            log.debug("relay %s: UNLISTEN failed: %r", self.name, exc)
        await conn.close()
