"""Edges of "nothing lost": handlers outliving the shutdown timeout, records too big to copy."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client

from qx.core import Result
from qx.cqrs import Mediator, integration_event_handler
from qx.dlq import H_PAYLOAD_OMITTED
from qx.embedded import EmbeddedNatsServer
from qx.events import ConsumerSettings, EventRegistry, NatsConsumer, NatsSettings
from qx.testing import WorkerHarness
from qx.worker import WorkerRuntime
from tests.runtime.conftest import FAST_RETRY, Names, WorkerFactory
from tests.runtime.events import OrderPlaced
from tests.runtime.helpers import dlq_records, publish

pytestmark = pytest.mark.nats


async def test_handler_outliving_shutdown_timeout_is_cancelled_and_redelivered(
    make_worker: WorkerFactory, nc: Client, names: Names
) -> None:
    started = asyncio.Event()

    @integration_event_handler(OrderPlaced)
    class Stuck:
        async def handle(self, event: OrderPlaced) -> Result[None]:
            started.set()
            await asyncio.sleep(60)
            return Result.success(None)

    first = WorkerHarness(make_worker([Stuck], shutdown_timeout=0.3))
    await first.start()
    await publish(nc, names.prefix, OrderPlaced(order_id="long", total=1))
    await started.wait()
    await first.stop()  # returns: the handler was cancelled after 0.3 s and its message nak'd
    assert first.settled == []

    @integration_event_handler(OrderPlaced)
    class Quick:
        async def handle(self, event: OrderPlaced) -> Result[None]:
            return Result.success(None)

    async with WorkerHarness(make_worker([Quick])) as second:
        await second.wait_settled(1, timeout=5)  # well before ack_wait: it was nak'd
    assert [(s.delivery, s.decision) for s in second.settled] == [(2, "ack")]


@pytest.fixture
def small_server(tmp_path: Path) -> Iterator[EmbeddedNatsServer]:
    with EmbeddedNatsServer(tmp_path / "nats", max_payload=4096) as server:
        yield server


async def test_record_too_large_to_copy_keeps_a_reference_to_the_original(
    small_server: EmbeddedNatsServer,
) -> None:
    """The original fits max_payload, but not with the DLQ headers added: the record is written
    without the body and says where the payload still is."""
    registry = EventRegistry()
    registry.register(OrderPlaced)
    worker = WorkerRuntime(
        consumer=NatsConsumer(
            NatsSettings(url=small_server.url),
            ConsumerSettings(stream="BIG", durable="big", subjects=["big.>"], max_deliver=1),
        ),
        registry=registry,
        mediator=Mediator([]),  # no handler: non-retryable, straight to the DLQ
        retry=FAST_RETRY,
        fetch_timeout=0.5,
    )
    nc = await nats.connect(small_server.url)
    try:
        async with WorkerHarness(worker) as h:
            body = json.dumps({"order_id": "x" * 3850, "total": 1}).encode()
            headers = {
                "ce-specversion": "1.0",
                "ce-id": "big-1",
                "ce-source": "t",
                "ce-type": "orders.order.placed.v1",
            }
            ack = await nc.jetstream().publish("big.orders", body, headers=headers)
            await h.wait_settled(1)
        (record,) = await dlq_records(nc, "QX_DLQ")
        raw = await nc.jetstream().get_msg("QX_DLQ", record.dlq_seq)
        assert record.body == b""
        assert record.payload_omitted
        assert f"BIG seq {ack.seq}" in (raw.headers or {})[H_PAYLOAD_OMITTED]
        original = await nc.jetstream().get_msg("BIG", ack.seq)
        assert original.data == body  # still recoverable from the source stream
        assert record.reason == "non_retryable:handler_failed"
    finally:
        await nc.close()
