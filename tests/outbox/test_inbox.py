"""Idempotent handlers through a real worker: duplicates are acked without running again."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from nats.aio.client import Client
from sqlalchemy import select, text

from qx import ops
from qx.core import RequestContext, Result, use_context
from qx.cqrs import integration_event_handler
from qx.dlq import DlqRecord
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


async def test_dlq_replay_of_an_event_whose_effect_committed_does_not_apply_it_again(
    shop: Outbox, nc: Client, nats_url: str, stream: Stream, tmp_path: Path
) -> None:
    """The last delivery committed the effect, then the worker could not ack it (here the
    after-commit hook fails; in production the process died): the message is dead-lettered
    although its effect happened. ``dlq replay`` publishes it as ``replay:<record id>``; the
    inbox must know it as the original event and ack it without running the handler."""
    runs = tmp_path / "runs"
    broken = [True]

    def fail_once(_consumer: str, _event_id: str) -> None:
        if broken.pop() if broken else False:
            raise RuntimeError("worker lost after the commit")

    handler = make_handler(
        shop, runs, payment_subject=stream.subject("shop.payment.taken"), after_commit=fail_once
    )
    worker = make_worker(nats_url, stream.name, stream.prefix, handler, max_deliver=1)
    dlq = f"{stream.name}_DLQ"
    async with WorkerHarness(worker) as h:
        await NatsPublisher(nc, source="tests").publish(
            OrderCreated(order_id="o1"), subject=stream.subject("shop.order.created"), event_id="e1"
        )
        await h.wait_settled(1)
        records = await ops.list_records(nc, dlq)
        assert [ops.event_id_of(r) for r in records] == ["e1"]
        assert await _count(shop, "SELECT count(*) FROM payments") == 1  # committed anyway

        (done,) = await ops.replay_records(nc, dlq, records)
        assert done.error is None
        assert done.event_id == f"replay:{records[0].id}"
        settled = await h.wait_settled(2)
    assert [(s.event_id, s.decision) for s in settled] == [
        ("e1", "dead_letter"),
        (done.event_id, "ack"),
    ]  # the replay reached the worker...
    assert runs.read_text().split() == ["o1"]  # ...and was acked without running again
    assert await _count(shop, "SELECT count(*) FROM payments") == 1
    assert await _count(shop, "SELECT count(*) FROM qx_outbox") == 1  # one PaymentTaken
    assert await ops.list_records(nc, dlq) == []
    async with shop.engine.connect() as conn:
        keys = (await conn.execute(select(inbox_table.c.event_id))).scalars().all()
    assert keys == ["e1"]


def _record(seq: int, headers: list[tuple[str, str]]) -> DlqRecord:
    return DlqRecord(
        dlq_seq=seq,
        subject="shop.order.created.v1",
        stream="SHOP",
        stream_seq=seq,
        consumer="payments",
        reason="max_deliver_exceeded:unsettled",
        error_type="",
        error_message="",
        attempts=1,
        failed_at="2026-01-01T00:00:00Z",
        origin="worker",
        trace_id=None,
        payload_omitted=False,
        original_headers=dict(headers),
        body=b"{}",
        headers=headers,
    )


def test_a_replay_of_a_replay_still_names_the_original_event() -> None:
    """A replay that fails again is dead-lettered under its replay id; replaying that record
    must keep the first original as the cause, or the inbox would no longer recognise it."""
    ce = [("ce-specversion", "1.0"), ("ce-id", "e1"), ("ce-type", "shop.order.created.v1")]
    first = ops.build_replay(_record(1, ce))
    again = ops.build_replay(_record(2, list(first.headers.items())))
    for message in (first, again):
        headers = message.headers
        assert headers["ce-causationid"] == "e1"
        assert ops.original_event_id(headers["ce-id"], headers["ce-causationid"]) == "e1"
    assert again.headers["ce-id"] == again.event_id != first.event_id
    # An ordinary event caused by another keeps its own id: only replays are mapped.
    assert ops.original_event_id("e2", "e1") == "e2"
