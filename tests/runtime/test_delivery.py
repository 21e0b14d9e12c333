"""Ack, retry with growing nak delays, and dead-lettering, against a real nats-server."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import Counter, defaultdict

import pytest
from nats.aio.client import Client

from qx.core import Result
from qx.cqrs import integration_event_handler
from qx.exceptions import NonRetryableError
from qx.testing import WorkerHarness
from tests.runtime.conftest import Names, WorkerFactory
from tests.runtime.events import OrderPlaced, UserRegistered
from tests.runtime.helpers import dlq_records, publish, wait_for_dlq

pytestmark = pytest.mark.nats


async def test_mixed_events_each_handled_once_and_acked(
    make_worker: WorkerFactory, nc: Client, names: Names
) -> None:
    seen: Counter[str] = Counter()

    @integration_event_handler(OrderPlaced)
    class Orders:
        async def handle(self, event: OrderPlaced) -> Result[None]:
            seen[event.order_id] += 1
            return Result.success(None)

    @integration_event_handler(UserRegistered)
    class Users:
        async def handle(self, event: UserRegistered) -> Result[None]:
            seen[event.user_id] += 1
            return Result.success(None)

    worker = make_worker([Orders, Users], concurrency=4, batch=16)
    async with WorkerHarness(worker) as h:
        for i in range(60):
            if i % 2:
                await publish(nc, names.prefix, OrderPlaced(order_id=f"o{i}", total=i))
            else:
                await publish(nc, names.prefix, UserRegistered(user_id=f"u{i}", email="a@b.c"))
        await h.wait_settled(60)
    info = await nc.jetstream().consumer_info(names.stream, names.durable)
    assert len(seen) == 60
    assert set(seen.values()) == {1}
    assert {s.decision for s in h.settled} == {"ack"}
    assert info.num_ack_pending == 0
    assert info.num_redelivered == 0
    assert worker.stats.processed == 60


async def test_failing_twice_then_succeeding_is_redelivered_with_growing_delays(
    make_worker: WorkerFactory, nc: Client, names: Names
) -> None:
    arrivals: list[float] = []

    @integration_event_handler(OrderPlaced)
    class Flaky:
        async def handle(self, event: OrderPlaced) -> Result[None]:
            arrivals.append(time.monotonic())
            if len(arrivals) <= 2:
                return Result.failure("downstream unavailable")
            return Result.success(None)

    async with WorkerHarness(make_worker([Flaky], consumer_overrides={"max_deliver": 5})) as h:
        await publish(nc, names.prefix, OrderPlaced(order_id="o1", total=1))
        await h.wait_settled(1)
    assert [s.delivery for s in h.settled] == [1, 2, 3]
    assert [s.decision for s in h.settled] == ["nak", "nak", "ack"]
    delays = [s.delay for s in h.settled[:2]]
    assert delays == [0.1, 0.2]  # base 0.1, factor 2
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    # The server held each redelivery for at least the nak delay, and the second gap is longer.
    assert gaps[0] >= 0.09
    assert gaps[1] >= 0.19
    assert gaps[1] > gaps[0]


async def test_always_failing_lands_in_dlq_after_max_deliver_with_payload_intact(
    make_worker: WorkerFactory, nc: Client, names: Names
) -> None:
    @integration_event_handler(OrderPlaced)
    class Broken:
        async def handle(self, event: OrderPlaced) -> Result[None]:
            raise RuntimeError("database is on fire")

    async with WorkerHarness(make_worker([Broken])) as h:
        await publish(
            nc, names.prefix, OrderPlaced(order_id="o-dead", total=9.5), tenant_id="acme corp"
        )
        await h.wait_settled(1)
    assert [s.decision for s in h.settled] == ["nak", "nak", "dead_letter"]
    (record,) = await dlq_records(nc, names.dlq_stream)
    assert json.loads(record.body) == {"order_id": "o-dead", "total": 9.5}
    assert record.reason == "max_deliver_exceeded:handler_error"
    assert record.error_type == "RuntimeError"
    assert record.error_message == "database is on fire"
    assert record.attempts == 3
    assert record.stream == names.stream
    assert record.consumer == names.durable
    assert record.subject == f"{names.prefix}.orders.order.placed.v1"
    assert record.original_headers["ce-tenantid"] == "acme%20corp"
    assert record.origin == "worker"
    # Terminated, not left pending: nothing more is delivered.
    info = await nc.jetstream().consumer_info(names.stream, names.durable)
    assert info.num_ack_pending == 0


async def test_non_retryable_failures_go_to_dlq_at_once(
    make_worker: WorkerFactory, nc: Client, names: Names
) -> None:
    @integration_event_handler(OrderPlaced)
    class Refuses:
        async def handle(self, event: OrderPlaced) -> Result[None]:
            if event.order_id == "raise":
                raise NonRetryableError("order belongs to a deleted tenant")
            return Result.failure("unknown currency", retryable=False)

    async with WorkerHarness(make_worker([Refuses])) as h:
        await publish(nc, names.prefix, OrderPlaced(order_id="raise", total=1))
        await publish(nc, names.prefix, OrderPlaced(order_id="result", total=1))
        await h.wait_settled(2)
    assert [(s.delivery, s.decision) for s in h.settled] == [(1, "dead_letter")] * 2
    reasons = sorted(r.reason for r in await dlq_records(nc, names.dlq_stream))
    assert reasons == ["non_retryable:handler_failed", "non_retryable:non_retryable"]


async def test_poison_messages_of_each_kind_go_to_dlq_at_once(
    make_worker: WorkerFactory, nc: Client, names: Names
) -> None:
    calls: list[str] = []

    @integration_event_handler(OrderPlaced)
    class Orders:
        async def handle(self, event: OrderPlaced) -> Result[None]:
            calls.append(event.order_id)
            return Result.success(None)

    ce = {
        "ce-specversion": "1.0",
        "ce-source": "tests",
        "ce-type": "orders.order.placed",
        "ce-qxversion": "1",
    }
    poison = {
        "invalid_json": ({**ce, "ce-id": "p1"}, b"{not json"),
        "unknown_event_type": ({**ce, "ce-id": "p2", "ce-type": "nope.v1"}, b"{}"),
        "schema_invalid": ({**ce, "ce-id": "p3"}, b'{"order_id": "x", "total": -1}'),
        "missing_envelope_field": ({"ce-specversion": "1.0", "ce-id": "p4"}, b"{}"),
        "no_envelope": ({}, b'{"order_id": "x"}'),
    }
    js = nc.jetstream()
    async with WorkerHarness(make_worker([Orders])) as h:
        for kind, (headers, body) in poison.items():
            await js.publish(f"{names.prefix}.poison.{kind}", body, headers=headers or None)
        await h.wait_settled(len(poison))
    assert calls == []
    assert all(s.delivery == 1 and s.decision == "dead_letter" for s in h.settled)
    records = {r.subject.rsplit(".", 1)[1]: r for r in await dlq_records(nc, names.dlq_stream)}
    assert set(records) == set(poison)
    for kind, (headers, body) in poison.items():
        assert records[kind].body == body
        for key, value in headers.items():
            assert records[kind].original_headers[key] == value
    assert records["invalid_json"].reason == "poison:invalid_json"
    assert records["unknown_event_type"].reason == "poison:unknown_event_type"
    assert records["schema_invalid"].reason == "poison:schema_invalid"
    assert "/total" in records["schema_invalid"].error_message
    assert records["missing_envelope_field"].reason == "poison:missing_envelope_field"
    assert records["no_envelope"].reason == "poison:missing_envelope_field"


async def test_dlq_unavailable_on_final_attempt_message_is_recovered_via_advisory(
    make_worker: WorkerFactory, nc: Client, names: Names
) -> None:
    js = nc.jetstream()
    dlq_gone = asyncio.Event()
    deliveries: defaultdict[str, int] = defaultdict(int)

    @integration_event_handler(OrderPlaced)
    class Broken:
        async def handle(self, event: OrderPlaced) -> Result[None]:
            deliveries[event.order_id] += 1
            if deliveries[event.order_id] == 3:  # final delivery: take the DLQ stream away
                await js.delete_stream(names.dlq_stream)
                dlq_gone.set()
            return Result.failure("still broken")

    # No patience: the worker gives up on the write at once and leaves it to the advisory path.
    worker = make_worker([Broken], consumer_overrides={"dlq_write_patience": 0})
    async with WorkerHarness(worker) as h:
        await publish(nc, names.prefix, OrderPlaced(order_id="o-keep", total=3))
        await h.wait_for(lambda s: any(x.dead_letter_written is False for x in s))
        # The worker could not write the record, so it did not term the message.
        assert worker.stats.dead_lettered == 0
        # Bring the DLQ back (as ops would); the advisory path now writes the record.
        from qx.transport import ensure_dlq

        await ensure_dlq(js, worker.consumer.settings)
        records = await wait_for_dlq(nc, names.dlq_stream)
    assert dlq_gone.is_set()
    (record,) = records
    assert record.origin == "advisory"
    assert record.reason.startswith("max_deliver_exceeded")
    assert json.loads(record.body) == {"order_id": "o-keep", "total": 3.0}
    assert record.attempts == 3
    assert record.original_headers["ce-type"] == "orders.order.placed"
