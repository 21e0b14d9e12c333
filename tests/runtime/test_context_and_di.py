"""Per-message DI scopes and RequestContext under concurrency, through dishka."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator

import pytest
from dishka import Provider, Scope, make_async_container, provide
from nats.aio.client import Client

from qx.core import RequestContext, Result
from qx.cqrs import Mediator, integration_event_handler
from qx.di import handlers_provider
from qx.testing import WorkerHarness
from tests.runtime.conftest import Names, WorkerFactory
from tests.runtime.events import OrderPlaced
from tests.runtime.helpers import publish

pytestmark = pytest.mark.nats

_ids = itertools.count()


class AppClient:
    """Stands for a shared client (HTTP pool, DB engine): one per app."""


class UnitOfWork:
    """Stands for a per-message resource: one per scope, closed when the scope ends."""

    def __init__(self, ctx: RequestContext, client: AppClient) -> None:
        self.id = next(_ids)
        self.ctx = ctx
        self.client = client
        self.closed = False


class Deps(Provider):
    @provide(scope=Scope.APP)
    def client(self) -> AppClient:
        return AppClient()

    @provide(scope=Scope.REQUEST)
    async def uow(self, ctx: RequestContext, client: AppClient) -> AsyncIterator[UnitOfWork]:
        uow = UnitOfWork(ctx, client)
        yield uow
        uow.closed = True


async def test_each_message_gets_its_own_scope_and_context_under_concurrency(
    make_worker: WorkerFactory, nc: Client, names: Names
) -> None:
    seen: list[tuple[str, str | None, str | None, int, int, UnitOfWork]] = []
    inside = 0
    peak = 0

    @integration_event_handler(OrderPlaced)
    class Handler:
        def __init__(self, uow: UnitOfWork) -> None:
            self.uow = uow

        async def handle(self, event: OrderPlaced) -> Result[None]:
            nonlocal inside, peak
            inside += 1
            peak = max(peak, inside)
            await asyncio.sleep(0.02)  # overlap with other messages on purpose
            ctx = RequestContext.current()
            assert ctx is not None
            seen.append(
                (event.order_id, ctx.correlation_id, ctx.tenant_id, self.uow.id,
                 id(self.uow.client), self.uow)
            )  # fmt: skip
            inside -= 1
            return Result.success(None)

    mediator = Mediator([Handler])
    container = make_async_container(Deps(), handlers_provider(mediator))
    worker = make_worker([Handler], container=container, concurrency=8)
    async with WorkerHarness(worker) as h:
        for i in range(40):
            await publish(
                nc,
                names.prefix,
                OrderPlaced(order_id=f"o{i}", total=i),
                correlation_id=f"corr-{i}",
                tenant_id=f"tenant {i % 3}",
            )
        await h.wait_settled(40)
    await container.close()

    assert peak > 1, "messages should have been handled concurrently"
    for order_id, correlation, tenant, _, _, uow in seen:
        i = int(order_id[1:])
        assert correlation == f"corr-{i}"
        assert tenant == f"tenant {i % 3}"
        assert uow.ctx.correlation_id == correlation  # injected context = current context
        assert uow.closed  # scope closed after the message
    assert len({uow_id for _, _, _, uow_id, _, _ in seen}) == 40  # one UnitOfWork per message
    assert len({client for _, _, _, _, client, _ in seen}) == 1  # one AppClient for the app
    assert RequestContext.current() is None  # nothing leaked into the test's own context
