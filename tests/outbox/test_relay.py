"""The relay against a real nats-server and both databases."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pytest
from nats.aio.client import Client
from sqlalchemy import select, update

from qx.outbox import Outbox, Relay, RelaySettings
from qx.outbox._database import utcnow
from qx.outbox._schema import inbox_table, outbox_table
from tests.outbox.conftest import Stream
from tests.outbox.events import OrderCreated
from tests.outbox.helpers import stream_messages, wait_until

pytestmark = pytest.mark.nats

FAST = RelaySettings(poll_interval=0.05, lease_ttl=2.0, batch_size=50, publish_timeout=2.0)


async def _write(outbox: Outbox, stream: Stream, orders: list[tuple[str, int]]) -> list[str]:
    ids = []
    for order_id, seq in orders:
        async with outbox.transaction() as tx:
            ids.append(
                await tx.publish(
                    OrderCreated(order_id=order_id, seq=seq),
                    key=order_id,
                    subject=stream.subject("order.created"),
                )
            )
    return ids


async def _unsent(outbox: Outbox) -> int:
    async with outbox.engine.connect() as conn:
        rows = await conn.execute(select(outbox_table.c.id).where(outbox_table.c.sent_at.is_(None)))
        return len(rows.all())


async def test_relay_publishes_with_event_id_as_msg_id_and_marks_sent(
    outbox: Outbox, nc: Client, stream: Stream
) -> None:
    ids = await _write(outbox, stream, [("a", 1), ("b", 1), ("a", 2)])
    relay = Relay(outbox.engine, nc, FAST)
    assert await relay.relay_once() == 3
    msgs = await stream_messages(nc, stream.name)
    assert [m.headers["Nats-Msg-Id"] for m in msgs] == ids
    assert [m.headers["ce-id"] for m in msgs] == ids
    assert all(m.headers["ce-source"] == "tests/outbox" for m in msgs)
    assert [m.data for m in msgs] == [
        {"order_id": "a", "seq": 1},
        {"order_id": "b", "seq": 1},
        {"order_id": "a", "seq": 2},
    ]
    assert await _unsent(outbox) == 0
    assert await relay.relay_once() == 0
    assert relay.stats.published == 3


async def test_republish_after_lost_mark_is_deduplicated(
    outbox: Outbox, nc: Client, stream: Stream
) -> None:
    """The crash window in-process: published and acked, then the mark never happened."""
    await _write(outbox, stream, [("a", 1), ("a", 2)])
    relay = Relay(outbox.engine, nc, FAST, name="relay-1")
    await relay.relay_once()
    async with outbox.engine.begin() as conn:
        await conn.execute(update(outbox_table).values(sent_at=None))
    again = Relay(outbox.engine, nc, FAST, name="relay-1")  # restarted under its own name
    assert await again.relay_once() == 2
    assert again.stats.duplicates == 2
    assert len(await stream_messages(nc, stream.name)) == 2


async def test_several_relays_publish_each_row_once_in_key_order(
    outbox: Outbox, nc: Client, stream: Stream
) -> None:
    # More keys than a batch holds: one relay's claim cannot cover every key's oldest row, so
    # on PostgreSQL the others always find keys to take (SKIP LOCKED) and the work is shared.
    keys = [f"k{i}" for i in range(40)]
    await _write(outbox, stream, [(k, n) for n in range(5) for k in keys])
    settings = RelaySettings(poll_interval=0.02, lease_ttl=2.0, batch_size=16)
    relays = [Relay(outbox.engine, nc, settings, name=f"r{i}") for i in range(3)]
    tasks = [asyncio.create_task(r.run()) for r in relays]
    try:
        await wait_until(lambda: _unsent_is(outbox, 0), timeout=60, what="all rows sent")
    finally:
        for r in relays:
            r.stop()
        await asyncio.gather(*tasks)
    # Each row went out exactly once: no relay needed JetStream's dedup to hide a double send.
    assert sum(r.stats.published for r in relays) == 200
    assert sum(r.stats.duplicates for r in relays) == 0
    msgs = await stream_messages(nc, stream.name)
    assert len(msgs) == 200
    for key in keys:
        seqs = [m.data["seq"] for m in msgs if m.data["order_id"] == key]
        assert seqs == list(range(5)), key
    if outbox.dialect == "postgresql":
        assert sum(1 for r in relays if r.stats.published) >= 2  # work was actually shared


async def _unsent_is(outbox: Outbox, n: int) -> bool:
    return await _unsent(outbox) == n


async def test_relay_wakes_on_commit(outbox: Outbox, nc: Client, stream: Stream) -> None:
    """PostgreSQL: NOTIFY wakes a relay that would otherwise poll only every 30 s.
    SQLite: polling (0.05 s here) or an in-process ``wake()``."""
    slow_poll = outbox.dialect == "postgresql"
    settings = RelaySettings(poll_interval=30.0 if slow_poll else 0.05, lease_ttl=2.0)
    relay = Relay(outbox.engine, nc, settings)
    task = asyncio.create_task(relay.run())
    try:
        await asyncio.wait_for(relay.wait_running(), 10)
        start = time.monotonic()
        await _write(outbox, stream, [("a", 1)])
        await wait_until(lambda: _unsent_is(outbox, 0), timeout=10, what="row sent")
        assert time.monotonic() - start < 5.0
    finally:
        relay.stop()
        await task


async def test_failed_publish_keeps_row_and_later_rows_of_its_key_pending(
    outbox: Outbox, nc: Client, stream: Stream
) -> None:
    await _write(outbox, stream, [("a", 1)])
    async with outbox.transaction() as tx:  # no stream listens on this subject
        await tx.publish(OrderCreated(order_id="a", seq=2), key="a", subject="nowhere.x")
    await _write(outbox, stream, [("a", 3), ("b", 1)])
    settings = RelaySettings(publish_attempts=1, publish_timeout=0.5, lease_ttl=2.0)
    relay = Relay(outbox.engine, nc, settings)
    await relay.relay_once()
    msgs = await stream_messages(nc, stream.name)
    assert [(m.data["order_id"], m.data["seq"]) for m in msgs] == [("a", 1), ("b", 1)]
    async with outbox.engine.connect() as conn:
        pending = (
            await conn.execute(
                select(outbox_table.c.subject, outbox_table.c.attempts, outbox_table.c.last_error)
                .where(outbox_table.c.sent_at.is_(None))
                .order_by(outbox_table.c.id)
            )
        ).all()
    assert [p.subject for p in pending] == ["nowhere.x", stream.subject("order.created")]
    assert pending[0].attempts == 1
    assert "not acknowledged" in (pending[0].last_error or "")


async def test_cleanup_removes_only_expired_rows(
    outbox: Outbox, nc: Client, stream: Stream
) -> None:
    await _write(outbox, stream, [("a", 1), ("b", 1), ("c", 1)])
    relay = Relay(outbox.engine, nc, RelaySettings(retention=3600, inbox_retention=3600))
    await relay.relay_once()
    await _write(outbox, stream, [("d", 1)])  # pending: never removed
    old = utcnow() - timedelta(hours=2)
    async with outbox.engine.begin() as conn:
        await conn.execute(
            update(outbox_table).where(outbox_table.c.aggregate_key == "a").values(sent_at=old)
        )
        await conn.execute(
            inbox_table.insert(),
            [
                {"consumer": "c", "event_id": "old", "processed_at": old},
                {"consumer": "c", "event_id": "new", "processed_at": utcnow()},
            ],
        )
    assert await relay.cleanup() == (1, 1)
    async with outbox.engine.connect() as conn:
        keys = (await conn.execute(select(outbox_table.c.aggregate_key))).scalars().all()
        inbox = (await conn.execute(select(inbox_table.c.event_id))).scalars().all()
    assert sorted(k or "" for k in keys) == ["b", "c", "d"]
    assert inbox == ["new"]


async def test_sqlite_standby_relay_waits_for_the_lease(
    tmp_path: object, nc: Client, stream: Stream
) -> None:
    box = Outbox.from_url(f"sqlite:///{tmp_path}/lease.db", source="tests/outbox")
    await box.migrate()
    try:
        await _write(box, stream, [("a", 1)])
        settings = RelaySettings(lease_ttl=0.6, poll_interval=0.05)
        first, second = Relay(box.engine, nc, settings), Relay(box.engine, nc, settings)
        assert await first.relay_once() == 1
        await _write(box, stream, [("a", 2)])
        assert await second.relay_once() == 0  # first holds the lease
        await asyncio.sleep(0.7)  # first stops renewing (a crashed relay): the lease lapses
        assert await second.relay_once() == 1
    finally:
        await box.close()
