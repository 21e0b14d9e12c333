"""A nats-server restart in the middle of a run loses nothing (SIGTERM and SIGKILL)."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import nats
import pytest

from qx.cqrs import Mediator
from qx.embedded import EmbeddedNatsServer
from qx.events import ConsumerSettings, NatsConsumer, NatsPublisher, NatsSettings, event_meta
from qx.events._registry import EventRegistry
from qx.exceptions import PublishError
from qx.testing import WorkerHarness
from qx.worker import WorkerRuntime
from tests.runtime.conftest import FAST_RETRY
from tests.runtime.events import OrderPlaced, recording_handler

pytestmark = [pytest.mark.nats, pytest.mark.slow]

TOTAL = 1500


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
async def test_server_restart_mid_run_loses_nothing(tmp_path: Path, sig: signal.Signals) -> None:
    server = EmbeddedNatsServer(tmp_path / "nats")
    server.start()
    handled: list[str] = []

    Record = recording_handler(handled)

    registry = EventRegistry()
    registry.register(OrderPlaced)
    worker = WorkerRuntime(
        consumer=NatsConsumer(
            NatsSettings(url=server.url, reconnect_time_wait=0.1),
            ConsumerSettings(
                stream="ORDERS", durable="restart", subjects=["orders.>"], ack_wait=2.0
            ),
        ),
        registry=registry,
        mediator=Mediator([Record]),
        concurrency=4,
        batch=32,
        fetch_timeout=0.5,
        retry=FAST_RETRY,
    )
    producer = await nats.connect(server.url, reconnect_time_wait=0.1, max_reconnect_attempts=-1)
    publisher = NatsPublisher(producer, source="tests", attempts=2, timeout=0.5)
    subject = event_meta(OrderPlaced).subject
    published: set[str] = set()

    async def produce() -> None:
        for i in range(TOTAL):
            order_id = f"o{i}"
            while True:  # keep the same event id on every retry: JetStream dedups
                try:
                    await publisher.publish(
                        OrderPlaced(order_id=order_id, total=i), subject=subject, event_id=order_id
                    )
                    break
                except PublishError:
                    continue
            published.add(order_id)

    try:
        async with WorkerHarness(worker) as h:
            producing = asyncio.create_task(produce())
            await h.wait_for(lambda s: len(s) >= TOTAL // 3, timeout=30)
            # Restart while both publishing and consuming are under way; ~0.5 s outage.
            await asyncio.to_thread(server.stop, sig)
            await asyncio.sleep(0.5)  # the outage itself, not a wait for a condition
            await asyncio.to_thread(server.start)
            await asyncio.wait_for(producing, 60)
            await h.wait_for(lambda s: {x.event_id for x in s if x.decision == "ack"} >= published,
                             timeout=60)  # fmt: skip
    finally:
        await producer.close()
        server.stop()
    assert len(published) == TOTAL
    # At-least-once: a restart may redeliver a few acked messages (acks in flight when the
    # server went down), never lose one.
    assert set(handled) == published
