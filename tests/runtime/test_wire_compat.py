"""Producers we do not control: plain nats-py with the Qx envelope, other-language CloudEvents."""

from __future__ import annotations

import json

import pytest
from nats.aio.client import Client

from qx.core import RequestContext, Result
from qx.cqrs import integration_event_handler
from qx.testing import WorkerHarness
from tests.runtime.conftest import Names, WorkerFactory
from tests.runtime.events import OrderPlaced

pytestmark = pytest.mark.nats


async def test_qx_envelope_and_foreign_cloudevents_are_handled(
    make_worker: WorkerFactory, nc: Client, names: Names
) -> None:
    got: dict[str, tuple[str, str | None, str | None, str | None]] = {}

    @integration_event_handler(OrderPlaced)
    class Handler:
        async def handle(self, event: OrderPlaced) -> Result[None]:
            ctx = RequestContext.current()
            assert ctx is not None
            got[event.order_id] = (
                ctx.correlation_id,
                ctx.tenant_id,
                ctx.causation_id,
                ctx.event_id,
            )
            return Result.success(None)

    js = nc.jetstream()
    qx_body = {
        "event_id": "legacy-1",
        "event_name": "orders.order.placed",
        "event_version": 1,
        "occurred_at": "2026-11-27T10:00:00Z",
        "correlation_id": "corr-legacy",
        "causation_id": "cause-legacy",
        "tenant_id": "t-legacy",
        "actor_id": "user-7",
        "payload": {"order_id": "from-qx-events", "total": 12.5},
    }
    async with WorkerHarness(make_worker([Handler])) as h:
        # The existing qx-events format, published with plain nats-py.
        await js.publish(
            f"{names.prefix}.legacy.orders",
            json.dumps(qx_body).encode(),
            headers={
                "qx.event_name": "orders.order.placed",
                "qx.event_version": "1",
                "qx.event_id": "legacy-1",
                "qx.correlation_id": "corr-legacy",
                "qx.tenant_id": "t-legacy",
            },
        )
        # A Go/Java CloudEvents producer: capitalised names, percent-encoding, version in subject.
        await js.publish(
            f"{names.prefix}.orders.order.placed.v1",
            b'{"order_id": "from-go", "total": 1}',
            headers={
                "Ce-Specversion": "1.0",
                "Ce-Id": "go-1",
                "Ce-Type": "orders.order.placed",
                "Ce-Source": "//go/svc",
                "Ce-Tenantid": "acme%20corp",
                "Ce-Correlationid": "corr%2Fgo",
                "Content-Type": "application/json",
                "Nats-Msg-Id": "go-1",
            },
        )
        await h.wait_settled(2)
    assert got["from-qx-events"] == ("corr-legacy", "t-legacy", "cause-legacy", "legacy-1")
    assert got["from-go"] == ("corr/go", "acme corp", None, "go-1")
