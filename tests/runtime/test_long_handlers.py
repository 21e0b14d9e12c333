"""Long handlers: in_progress keeps them from being redelivered; handler_timeout bounds them."""

from __future__ import annotations

import asyncio

import pytest
from nats.aio.client import Client

from qx.core import Result
from qx.cqrs import integration_event_handler
from qx.testing import WorkerHarness
from tests.runtime.conftest import Names, WorkerFactory
from tests.runtime.events import OrderPlaced
from tests.runtime.helpers import publish

pytestmark = pytest.mark.nats


async def test_handler_running_past_ack_wait_is_not_redelivered(
    make_worker: WorkerFactory, nc: Client, names: Names
) -> None:
    calls = 0

    @integration_event_handler(OrderPlaced)
    class Slow:
        async def handle(self, event: OrderPlaced) -> Result[None]:
            nonlocal calls
            calls += 1
            await asyncio.sleep(4.5)  # the work itself: 3 x ack_wait
            return Result.success(None)

    worker = make_worker([Slow], consumer_overrides={"ack_wait": 1.5})
    async with WorkerHarness(worker) as h:
        await publish(nc, names.prefix, OrderPlaced(order_id="slow", total=1))
        await h.wait_settled(1, timeout=15)
    info = await nc.jetstream().consumer_info(names.stream, names.durable)
    assert calls == 1
    assert [(s.delivery, s.decision) for s in h.settled] == [(1, "ack")]
    assert info.num_redelivered == 0


async def test_handler_timeout_cancels_and_naks_for_retry(
    make_worker: WorkerFactory, nc: Client, names: Names
) -> None:
    attempts = 0

    @integration_event_handler(OrderPlaced)
    class SometimesHangs:
        async def handle(self, event: OrderPlaced) -> Result[None]:
            nonlocal attempts
            attempts += 1
            if attempts == 1:
                await asyncio.sleep(60)
            return Result.success(None)

    async with WorkerHarness(make_worker([SometimesHangs], handler_timeout=0.3)) as h:
        await publish(nc, names.prefix, OrderPlaced(order_id="hang", total=1))
        await h.wait_settled(1)
    assert [(s.delivery, s.decision) for s in h.settled] == [(1, "nak"), (2, "ack")]
    assert "handler_timeout" in (h.settled[0].error or "")
