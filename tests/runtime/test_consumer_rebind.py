"""Re-binding against a real server: no subscription is leaked, and the advisory consumer's
trouble stays its own (the worker stays ready and the main consumer is not re-bound).

Subscriptions are counted on the worker's own connection (nats-py keeps them in
``Client._subs``, which has no public accessor): every one there holds a pending queue and a
server-side interest, so a count that grows with re-binds is the leak.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable

import nats.js.errors
import pytest
from nats.aio.client import Client

from qx.events import NatsConsumer, NatsSettings
from qx.testing import WorkerHarness
from tests.runtime.conftest import Names, WorkerFactory
from tests.runtime.events import OrderPlaced, recording_handler
from tests.runtime.helpers import publish, wait_for_dlq

pytestmark = pytest.mark.nats


async def until(condition: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def subscriptions(nc: Client) -> int:
    return len(nc._subs)


def bound_again(caplog: pytest.LogCaptureFixture, durable: str) -> int:
    return sum(r.getMessage() == f"consumer {durable} bound again" for r in caplog.records)


async def test_forced_rebinds_do_not_grow_the_subscription_count(
    make_worker: WorkerFactory, nc: Client, names: Names, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="qx.consumer")
    handled: list[str] = []
    worker = make_worker([recording_handler(handled)], pull_expires=2.0, idle_heartbeat=0.5)
    async with WorkerHarness(worker) as h:
        await publish(nc, names.prefix, OrderPlaced(order_id="first", total=1))
        await h.wait_settled(1)
        assert worker.consumer.has_advisories
        baseline = subscriptions(worker.consumer.nc)
        for i in range(3):
            await nc.jetstream().delete_consumer(names.stream, names.durable)
            await until(lambda i=i: bound_again(caplog, names.durable) > i, f"re-bind {i + 1}")
            await publish(nc, names.prefix, OrderPlaced(order_id=f"after-{i}", total=1))
            await until(lambda i=i: f"after-{i}" in handled, f"after-{i} handled", timeout=20)
            assert subscriptions(worker.consumer.nc) == baseline
    # The consumer made again delivers the stream from its start: earlier ids come again.
    assert set(handled) == {"first", "after-0", "after-1", "after-2"}


async def test_fetch_subscribes_on_first_use_and_a_rebind_replaces_it(
    nats_url: str, nc: Client, names: Names
) -> None:
    """``fetch()`` keeps working for callers that batch; a worker that only consumes never
    pays for its subscription."""
    consumer = NatsConsumer(NatsSettings(url=nats_url), names.consumer_settings())
    await consumer.start()
    try:
        before = subscriptions(consumer.nc)
        await publish(nc, names.prefix, OrderPlaced(order_id="f1", total=1))
        (msg,) = await consumer.fetch(1, timeout=5)
        await msg.ack()
        assert subscriptions(consumer.nc) == before + 1
        await consumer.start()  # what a re-bind does
        assert subscriptions(consumer.nc) == before
        await publish(nc, names.prefix, OrderPlaced(order_id="f2", total=1))
        (msg,) = await consumer.fetch(1, timeout=5)
        await msg.ack()
        assert json.loads(msg.data)["order_id"] == "f2"
        assert subscriptions(consumer.nc) == before + 1
    finally:
        await consumer.close()


async def test_advisory_stream_deleted_under_a_running_worker(
    make_worker: WorkerFactory, nc: Client, names: Names, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 7's R1 advisory stream down, reproduced by deleting it: the worker stays ready,
    handles messages, never re-binds the main consumer; its own provisioning brings the
    advisory stream back and capture resumes (proved by an advisory landing in the DLQ)."""
    caplog.set_level("INFO", logger="qx.consumer")
    handled: list[str] = []
    worker = make_worker(
        [recording_handler(handled)], pull_expires=2.0, idle_heartbeat=0.5, fetch_timeout=0.2
    )
    js = nc.jetstream()
    not_ready: list[float] = []
    async with WorkerHarness(worker) as h:
        await publish(nc, names.prefix, OrderPlaced(order_id="before", total=1))
        await h.wait_settled(1)
        await until(lambda: worker.is_ready, "ready")
        subs = subscriptions(worker.consumer.nc)

        async def watch() -> None:
            while True:
                if not worker.is_ready:
                    not_ready.append(time.monotonic())
                await asyncio.sleep(0.01)

        watcher = asyncio.create_task(watch())
        try:
            await js.delete_stream(names.advisory_stream)
            for i in range(10):  # ~2 s of traffic while the advisory fetches fail
                await publish(nc, names.prefix, OrderPlaced(order_id=f"during-{i}", total=i))
                await asyncio.sleep(0.2)
            await h.wait_settled(11, timeout=20)

            async def advisory_back() -> bool:
                try:
                    await js.consumer_info(names.advisory_stream, f"{names.durable}_dlq_advisories")
                except nats.js.errors.NotFoundError:
                    return False
                return True

            deadline = time.monotonic() + 20
            while not await advisory_back():
                assert time.monotonic() < deadline, "advisory consumer not provisioned again"
                await asyncio.sleep(0.1)
            # An advisory as the server words it (facts §2), for a message in the stream.
            info = await js.stream_info(names.stream)
            await nc.publish(
                f"$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{names.stream}.{names.durable}",
                json.dumps(
                    {
                        "type": "io.nats.jetstream.advisory.v1.max_deliver",
                        "stream": names.stream,
                        "consumer": names.durable,
                        "stream_seq": info.state.last_seq,
                        "deliveries": 3,
                    }
                ).encode(),
            )
            (record,) = await wait_for_dlq(nc, names.dlq_stream, timeout=20)
            assert record.origin == "advisory"
            await publish(nc, names.prefix, OrderPlaced(order_id="after", total=1))
            await h.wait_settled(12, timeout=20)
        finally:
            watcher.cancel()
        assert subscriptions(worker.consumer.nc) == subs
    assert not_ready == []
    assert bound_again(caplog, names.durable) == 0
    assert any("advisory fetch refused" in r.getMessage() for r in caplog.records)
    assert handled == ["before", *(f"during-{i}" for i in range(10)), "after"]
