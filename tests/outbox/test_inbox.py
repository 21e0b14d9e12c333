"""Idempotent handlers through a real worker: duplicates are acked without running again."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from nats.aio.client import Client
from sqlalchemy import select, text

from qx.core import RequestContext, Result, use_context
from qx.cqrs import integration_event_handler
from qx.events import NatsPublisher
from qx.exceptions import ConfigurationError
from qx.outbox import Outbox, Transaction, idempotent
from qx.outbox._schema import inbox_table, outbox_table
from qx.testing import WorkerHarness
from tests.outbox.app import create_payments, make_handler, make_worker
from tests.outbox.conftest import Stream
from tests.outbox.events import OrderCreated

pytestmark = pytest.mark.nats


@pytest.fixture
async def shop(outbox: Outbox) -> Outbox:
    async with outbox.engine.begin() as conn:
        await create_payments(conn)
    return outbox


async def _count(outbox: Outbox, sql: str) -> int:
    async with outbox.engine.connect() as conn:
        return int((await conn.execute(text(sql))).scalar() or 0)


async def test_redelivered_event_is_acked_without_running_again(
    shop: Outbox, nc: Client, nats_url: str, stream: Stream, tmp_path: Path
) -> None:
    runs = tmp_path / "runs"
    payment_subject = stream.subject("shop.payment.taken")
    handler = make_handler(shop, runs, payment_subject=payment_subject)
    worker = make_worker(nats_url, stream.name, stream.prefix, handler)
    publisher = NatsPublisher(nc, source="tests")
    subject = stream.subject("shop.order.created")
    async with WorkerHarness(worker) as h:
        await publisher.publish(OrderCreated(order_id="o1"), subject=subject, event_id="e1")
        # The same event again under another Nats-Msg-Id: JetStream stores it a second time,
        # as after a producer republished outside the duplicate window.
        await publisher.publish(
            OrderCreated(order_id="o1"),
            subject=subject,
            event_id="e1",
            headers={"Nats-Msg-Id": "e1-again"},
        )
        await h.wait_settled(2)
    assert worker.stats.processed == 2
    assert runs.read_text().split() == ["o1"]
    assert await _count(shop, "SELECT count(*) FROM payments") == 1
    async with shop.engine.connect() as conn:
        (row,) = (await conn.execute(select(outbox_table))).all()
        inbox = (await conn.execute(select(inbox_table))).all()
    assert row.subject == payment_subject
    assert row.causation_id == "e1"  # the consumed event caused the payment event
    assert [(i.consumer, i.event_id) for i in inbox] == [("payments", "e1")]


async def test_failure_rolls_back_inbox_effect_and_outbox_then_retry_runs(
    shop: Outbox, nc: Client, nats_url: str, stream: Stream, tmp_path: Path
) -> None:
    runs = tmp_path / "runs"
    handler = make_handler(
        shop, runs, payment_subject=stream.subject("shop.payment.taken"), fail_first=True
    )
    worker = make_worker(nats_url, stream.name, stream.prefix, handler)
    publisher = NatsPublisher(nc, source="tests")
    async with WorkerHarness(worker) as h:
        await publisher.publish(
            OrderCreated(order_id="o1"), subject=stream.subject("shop.order.created")
        )
        settled = await h.wait_for(lambda s: any(x.decision == "ack" for x in s))
    assert [x.decision for x in settled] == ["nak", "ack"]
    assert runs.read_text().split() == ["o1", "o1"]
    assert await _count(shop, "SELECT count(*) FROM payments") == 1
    assert await _count(shop, "SELECT count(*) FROM qx_outbox") == 1
    assert await _count(shop, "SELECT count(*) FROM qx_inbox") == 1


async def test_idempotent_handler_outside_a_worker_says_what_is_missing(
    shop: Outbox, tmp_path: Path
) -> None:
    handler = make_handler(shop, tmp_path / "runs", payment_subject="x.y")()
    with pytest.raises(ConfigurationError, match="needs the id of the event"):
        await handler.handle(OrderCreated(order_id="o1"))
    with use_context(RequestContext(correlation_id="c", event_id="e7")):
        assert (await handler.handle(OrderCreated(order_id="o1"))).is_success
        assert (await handler.handle(OrderCreated(order_id="o1"))).is_success
    assert (tmp_path / "runs").read_text().split() == ["o1"]


async def test_concurrent_deliveries_of_one_event_apply_it_once(shop: Outbox) -> None:
    """ack_wait ran out while the first delivery was still working: the second one waits on the
    inbox row (PostgreSQL) or the write lock (SQLite) and then finds the event done."""
    started = asyncio.Event()
    release = asyncio.Event()
    runs: list[str] = []

    @integration_event_handler(OrderCreated)
    class Slow:
        def __init__(self) -> None:
            self.outbox = shop

        @idempotent("slow")
        async def handle(self, event: OrderCreated, tx: Transaction) -> Result[None]:
            runs.append(event.order_id)
            await tx.session.execute(
                text("INSERT INTO payments (order_id) VALUES (:o)"), {"o": "x"}
            )
            started.set()
            await release.wait()
            return Result.success(None)

    async def deliver() -> Result[None]:
        with use_context(RequestContext(correlation_id="c", event_id="same-event")):
            return await Slow().handle(OrderCreated(order_id="o1"))

    first = asyncio.create_task(deliver())
    await started.wait()
    second = asyncio.create_task(deliver())
    await asyncio.sleep(0.2)  # let the second reach the inbox insert and block there
    assert not second.done()
    release.set()
    results = await asyncio.gather(first, second)
    assert all(r.is_success for r in results)
    assert runs == ["o1"]
    assert await _count(shop, "SELECT count(*) FROM payments") == 1
