"""Producing real DLQ records by running a real worker, for the ops tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from nats.aio.client import Client

from qx.core import RequestContext, Result
from qx.cqrs import integration_event_handler
from qx.events import IntegrationEvent, NatsPublisher, event_meta
from qx.exceptions import NonRetryableError
from qx.testing import WorkerHarness
from tests.runtime.conftest import Names, WorkerFactory
from tests.runtime.events import OrderPlaced, UserRegistered

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


class Switch:
    """Handlers fail while ``broken``; records what they saw when they succeeded."""

    def __init__(self) -> None:
        self.broken = True
        self.handled: list[tuple[Any, RequestContext | None]] = []

    def handlers(self, *, retryable: bool = False) -> list[type[Any]]:
        switch = self

        async def handle(event: Any) -> Result[None]:
            if switch.broken:
                if retryable:
                    raise RuntimeError("downstream is down")
                raise NonRetryableError(f"refusing {type(event).__name__}")
            switch.handled.append((event, RequestContext.current()))
            return Result.success(None)

        @integration_event_handler(OrderPlaced)
        class Orders:
            async def handle(self, event: OrderPlaced) -> Result[None]:
                return await handle(event)

        @integration_event_handler(UserRegistered)
        class Users:
            async def handle(self, event: UserRegistered) -> Result[None]:
                return await handle(event)

        return [Orders, Users]


async def publish(nc: Client, names: Names, event: IntegrationEvent, **kwargs: Any) -> None:
    subject = f"{names.prefix}.{event_meta(type(event)).subject}"
    ack = await NatsPublisher(nc, source="tests").publish(event, subject=subject, **kwargs)
    assert ack.seq


async def publish_all(nc: Client, names: Names, orders: int, users: int) -> None:
    """Orders get event id ``eo<i>``, correlation ``corr-o<i>`` and a traceparent; users
    ``eu<i>`` and nothing else, so replay's handling of both cases is visible."""
    for i in range(orders):
        await publish(
            nc,
            names,
            OrderPlaced(order_id=f"o{i}", total=i),
            event_id=f"eo{i}",
            correlation_id=f"corr-o{i}",
            headers={"traceparent": TRACEPARENT},
        )
    for i in range(users):
        await publish(nc, names, UserRegistered(user_id=f"u{i}", email="a@b.c"), event_id=f"eu{i}")


async def dead_letter(
    make_worker: WorkerFactory,
    nc: Client,
    names: Names,
    orders: int = 2,
    users: int = 1,
    *,
    expect: int | None = None,
) -> None:
    """Publish events and run a worker that refuses everything until ``expect`` messages (by
    default the ones published here) are dead-lettered."""
    switch = Switch()
    async with WorkerHarness(make_worker(switch.handlers())) as h:
        await publish_all(nc, names, orders, users)
        await h.wait_settled(orders + users if expect is None else expect)


async def wait_for_message(nc: Client, subject: str, action: Callable[[], Any]) -> None:
    """Run ``action`` and wait until a message appears on ``subject`` (core NATS)."""
    arrived = asyncio.Event()

    async def on_msg(_: Any) -> None:
        arrived.set()

    sub = await nc.subscribe(subject, cb=on_msg)
    try:
        result = action()
        if asyncio.iscoroutine(result):
            await result
        await asyncio.wait_for(arrived.wait(), 15)
    finally:
        await sub.unsubscribe()
