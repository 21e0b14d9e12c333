"""Deliveries that never settle still end in the DLQ; a closed connection is rebuilt."""

from __future__ import annotations

import json

import pytest
from nats.aio.client import Client

from qx.core import Result
from qx.cqrs import integration_event_handler
from qx.exceptions import ConfigurationError
from qx.testing import WorkerHarness
from qx.transport import provision
from tests.runtime.conftest import Names, WorkerFactory
from tests.runtime.events import OrderPlaced
from tests.runtime.helpers import publish, wait_for_dlq

pytestmark = pytest.mark.nats


async def test_message_whose_handler_never_settles_ends_in_dlq(
    make_worker: WorkerFactory, nc: Client, names: Names
) -> None:
    """A process that crashes mid-handler never acks or naks. Simulate three such crashes with a
    raw consumer that takes the message and walks away, then let a healthy worker run."""
    js = nc.jetstream()
    settings = names.consumer_settings(ack_wait=0.5)
    await provision(js, settings, batch=8)
    await publish(nc, names.prefix, OrderPlaced(order_id="crashy", total=1))
    crashed = await js.pull_subscribe_bind(names.durable, stream=names.stream)
    for delivery in (1, 2, 3):
        (msg,) = await crashed.fetch(1, timeout=5)  # redelivered once ack_wait lapses
        assert msg.metadata.num_delivered == delivery
    await crashed.unsubscribe()

    handled: list[str] = []

    @integration_event_handler(OrderPlaced)
    class Healthy:
        async def handle(self, event: OrderPlaced) -> Result[None]:
            handled.append(event.order_id)
            return Result.success(None)

    worker = make_worker([Healthy], consumer_overrides={"ack_wait": 0.5})
    async with WorkerHarness(worker):
        records = await wait_for_dlq(nc, names.dlq_stream)
    assert handled == []  # exhausted: the server never delivers it again
    (record,) = records
    assert record.origin == "advisory"
    assert record.attempts == 3
    assert json.loads(record.body) == {"order_id": "crashy", "total": 1.0}


async def test_closed_connection_is_rebuilt_and_consumer_rebound(
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
        old = worker.consumer.nc
        await old.close()  # closed for good, as after exhausted reconnects or a server -ERR
        await publish(nc, names.prefix, OrderPlaced(order_id="after", total=1))
        await h.wait_settled(2)
        assert worker.consumer.nc is not old
        assert worker.is_ready
    assert handled == ["before", "after"]


async def test_provisioning_off_with_missing_consumer_fails_with_a_clear_error(
    make_worker: WorkerFactory, names: Names
) -> None:
    worker = make_worker([], consumer_overrides={"provision": False})
    with pytest.raises(ConfigurationError, match="provisioning is off"):
        await worker.run()


async def test_provisioning_is_idempotent_and_respects_wider_existing_subjects(
    nc: Client, names: Names
) -> None:
    js = nc.jetstream()
    await js.add_stream(name=names.stream, subjects=[f"{names.prefix}.>"])  # ops-made, wide
    settings = names.consumer_settings(subjects=[f"{names.prefix}.orders.order.placed.v1"])
    for _ in range(2):
        await provision(js, settings, batch=8)
    info = await js.stream_info(names.stream)
    assert info.config.subjects == [f"{names.prefix}.>"]
    consumer = await js.consumer_info(names.stream, names.durable)
    assert consumer.config.max_deliver == 3
    assert not consumer.config.backoff
