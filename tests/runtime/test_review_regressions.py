"""Failure modes found in review, each reproduced against a real nats-server."""

from __future__ import annotations

import asyncio
import logging

import pytest
from nats.aio.client import Client
from nats.js.api import AckPolicy, ConsumerConfig

from qx.core import Result
from qx.cqrs import integration_event_handler
from qx.exceptions import ConfigurationError
from qx.testing import WorkerHarness
from tests.runtime.conftest import Names, WorkerFactory
from tests.runtime.events import OrderPlaced
from tests.runtime.helpers import dlq_records, publish

pytestmark = pytest.mark.nats


async def test_cancelled_error_from_a_handler_is_a_failed_attempt_not_a_dead_worker(
    make_worker: WorkerFactory, nc: Client, names: Names
) -> None:
    attempts = 0

    @integration_event_handler(OrderPlaced)
    class CancelsInside:
        async def handle(self, event: OrderPlaced) -> Result[None]:
            nonlocal attempts
            attempts += 1
            if event.order_id == "first" and attempts == 1:
                sub = asyncio.create_task(asyncio.sleep(10))
                sub.cancel()
                await sub  # raises CancelledError into the handler
            return Result.success(None)

    async with WorkerHarness(make_worker([CancelsInside], concurrency=1)) as h:
        await publish(nc, names.prefix, OrderPlaced(order_id="first", total=1))
        for i in range(3):
            await publish(nc, names.prefix, OrderPlaced(order_id=f"next{i}", total=1))
        await h.wait_settled(4)
    (nak,) = [s for s in h.settled if s.decision == "nak"]
    assert "CancelledError" in (nak.error or "")
    assert sum(s.decision == "ack" for s in h.settled) == 4  # the worker task survived


async def test_handler_own_timeout_error_keeps_its_message(
    make_worker: WorkerFactory, nc: Client, names: Names
) -> None:
    @integration_event_handler(OrderPlaced)
    class CallsOut:
        async def handle(self, event: OrderPlaced) -> Result[None]:
            raise TimeoutError("HTTP call to payments timed out")

    async with WorkerHarness(make_worker([CallsOut], handler_timeout=None)) as h:
        await publish(nc, names.prefix, OrderPlaced(order_id="t", total=1))
        await h.wait_settled(1)
    (record,) = await dlq_records(nc, names.dlq_stream)
    assert record.reason == "max_deliver_exceeded:handler_error"
    assert record.error_message == "HTTP call to payments timed out"


async def test_two_services_failing_on_one_message_each_keep_their_dlq_record(
    make_worker: WorkerFactory, nc: Client, names: Names
) -> None:
    billing = make_worker([], consumer_overrides={"durable": "billing"})
    shipping = make_worker([], consumer_overrides={"durable": "shipping"})
    async with WorkerHarness(billing) as b, WorkerHarness(shipping) as s:
        await nc.jetstream().publish(f"{names.prefix}.junk", b"not json")
        await b.wait_settled(1)
        await s.wait_settled(1)
    records = await dlq_records(nc, names.dlq_stream)
    assert sorted(r.consumer for r in records) == ["billing", "shipping"]
    assert {r.body for r in records} == {b"not json"}
    assert len({r.id for r in records}) == 2


async def test_absurdly_nested_json_is_poison_not_a_stuck_message(
    make_worker: WorkerFactory, nc: Client, names: Names
) -> None:
    headers = {"ce-specversion": "1.0", "ce-id": "deep", "ce-source": "t", "ce-type": "x.v1"}
    async with WorkerHarness(make_worker([])) as h:
        await nc.jetstream().publish(f"{names.prefix}.deep", b"[" * 100_000, headers=headers)
        await h.wait_settled(1, timeout=5)
    assert [(s.delivery, s.decision, s.reason) for s in h.settled] == [
        (1, "dead_letter", "poison:invalid_json")
    ]


async def test_stop_does_not_spend_a_last_delivery_without_an_attempt(
    make_worker: WorkerFactory, nc: Client, names: Names
) -> None:
    """With max_deliver=1 every message is on its last delivery: handing the buffered ones
    back at stop() would dead-letter them unprocessed."""
    handled: list[str] = []
    started = asyncio.Event()

    @integration_event_handler(OrderPlaced)
    class Slow:
        async def handle(self, event: OrderPlaced) -> Result[None]:
            started.set()
            await asyncio.sleep(0.2)
            handled.append(event.order_id)
            return Result.success(None)

    # Preloaded, so the first fetch buffers all four while the single slot works on one.
    await nc.jetstream().add_stream(name=names.stream, subjects=[f"{names.prefix}.>"])
    for i in range(4):
        await publish(nc, names.prefix, OrderPlaced(order_id=f"o{i}", total=i))
    worker = make_worker([Slow], concurrency=1, consumer_overrides={"max_deliver": 1})
    h = WorkerHarness(worker)
    await h.start()
    await started.wait()
    await h.stop()
    assert sorted(handled) == ["o0", "o1", "o2", "o3"]
    assert {s.decision for s in h.settled} == {"ack"}
    assert await dlq_records(nc, names.dlq_stream) == []


async def test_deleted_consumer_is_provisioned_again_and_consumption_resumes(
    make_worker: WorkerFactory, nc: Client, names: Names
) -> None:
    handled: list[str] = []

    @integration_event_handler(OrderPlaced)
    class Handler:
        async def handle(self, event: OrderPlaced) -> Result[None]:
            handled.append(event.order_id)
            return Result.success(None)

    worker = make_worker([Handler])
    async with WorkerHarness(worker) as h:
        await publish(nc, names.prefix, OrderPlaced(order_id="before", total=1))
        await h.wait_settled(1)
        await nc.jetstream().delete_consumer(names.stream, names.durable)
        await publish(nc, names.prefix, OrderPlaced(order_id="after", total=1))
        await h.wait_settled(2, timeout=20)
        assert worker.is_ready
    assert handled[0] == "before"
    assert "after" in handled


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"ack_policy": AckPolicy.ALL}, "ack_policy=explicit"),
        ({"ack_policy": AckPolicy.EXPLICIT, "backoff": [1.0, 2.0], "max_deliver": 5}, "backoff"),
    ],
)
async def test_ops_made_consumer_that_qx_cannot_run_correctly_is_refused(
    make_worker: WorkerFactory,
    nc: Client,
    names: Names,
    config: dict[str, object],
    message: str,
) -> None:
    js = nc.jetstream()
    await js.add_stream(name=names.stream, subjects=[f"{names.prefix}.>"])
    await js.add_consumer(names.stream, ConsumerConfig(durable_name=names.durable, **config))
    worker = make_worker([], consumer_overrides={"provision": False})
    with pytest.raises(ConfigurationError, match=message):
        await worker.run()


def test_dlq_record_id_names_stream_consumer_and_sequence() -> None:
    from qx.dlq import record_id

    assert record_id("S", "billing", 7) == "qx-dlq:S:billing:7"


async def test_stop_while_the_first_connect_is_still_retrying_returns(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A worker started before its server waits for it; SIGTERM in that state must not hang."""
    from qx.cqrs import Mediator
    from qx.embedded import free_port
    from qx.events import ConsumerSettings, EventRegistry, NatsConsumer, NatsSettings
    from qx.worker import WorkerRuntime

    consumer = NatsConsumer(
        NatsSettings(url=f"nats://127.0.0.1:{free_port()}", connect_timeout=0.2),
        ConsumerSettings(stream="S", durable="d", subjects=["a.>"]),
    )
    worker = WorkerRuntime(consumer=consumer, registry=EventRegistry(), mediator=Mediator())
    running = asyncio.create_task(worker.run())

    def failed_once() -> bool:
        return any(r.name.startswith("qx.") and "Connect" in r.getMessage() for r in caplog.records)

    with caplog.at_level(logging.WARNING):
        for _ in range(100):  # bounded wait for the first failed attempt (nothing listens there)
            if failed_once():
                break
            await asyncio.sleep(0.05)
    assert failed_once()
    assert not running.done()
    await asyncio.wait_for(worker.stop(), 5)
    await asyncio.wait_for(running, 5)
    assert not worker.is_running
