"""DLQ list/show/replay/purge on records written by a real worker and by the advisory path."""

from __future__ import annotations

import asyncio
import json

import pytest
from nats.aio.client import Client
from nats.js.api import ConsumerConfig

from qx import ops
from qx.testing import WorkerHarness
from qx.transport import provision, publish_with_retry
from tests.ops.helpers import TRACEPARENT, Switch, dead_letter, publish, publish_all
from tests.runtime.conftest import Names, WorkerFactory
from tests.runtime.events import OrderPlaced, UserRegistered

pytestmark = pytest.mark.nats


async def test_list_and_get_records_written_by_the_worker(
    make_worker: WorkerFactory, nc: Client, names: Names
) -> None:
    await dead_letter(make_worker, nc, names, orders=2, users=1)
    await nc.jetstream().publish(f"{names.prefix}.raw", b"not json")  # poison, no envelope
    async with WorkerHarness(make_worker(Switch().handlers())) as h:
        await h.wait_settled(1)

    records = await ops.list_records(nc, names.dlq_stream)
    assert [ops.event_type_of(r) for r in records] == [
        "orders.order.placed",
        "orders.order.placed",
        "identity.user.registered",
        None,
    ]
    assert [r.origin for r in records] == ["worker"] * 4
    assert records[3].reason == "poison:invalid_json"

    orders = await ops.list_records(nc, names.dlq_stream, event_type="orders.order.placed")
    assert [ops.event_id_of(r) for r in orders] == ["eo0", "eo1"]
    assert await ops.list_records(nc, names.dlq_stream, event_type="orders.order.placed.v1")
    assert await ops.list_records(nc, names.dlq_stream, event_type="orders.order.placed.v2") == []
    assert await ops.list_records(nc, names.dlq_stream, consumer="someone_else") == []
    assert len(await ops.list_records(nc, names.dlq_stream, limit=2)) == 2

    first = records[0]
    by_id = await ops.get_record(nc, names.dlq_stream, first.id)
    by_seq = await ops.get_record(nc, names.dlq_stream, str(first.dlq_seq))
    assert by_id == by_seq == first
    assert first.id == f"qx-dlq:{names.stream}:{names.durable}:{first.stream_seq}"
    assert json.loads(first.body) == {"order_id": "o0", "total": 0.0}
    assert first.reason == "non_retryable:non_retryable"
    assert first.attempts == 1
    assert ops.trace_id_of(first) is not None


async def test_unknown_ids_and_missing_stream_are_clear_errors(
    make_worker: WorkerFactory, nc: Client, names: Names
) -> None:
    await dead_letter(make_worker, nc, names, orders=1, users=0)
    with pytest.raises(ops.DlqRecordNotFoundError, match=r"no DLQ record qx-dlq:NOPE:1 in"):
        await ops.get_record(nc, names.dlq_stream, "qx-dlq:NOPE:1")
    with pytest.raises(ops.DlqRecordNotFoundError, match="no DLQ record 999"):
        await ops.get_record(nc, names.dlq_stream, 999)
    with pytest.raises(ops.DlqRecordNotFoundError, match="is not a DLQ record id"):
        await ops.get_record(nc, names.dlq_stream, "banana")
    with pytest.raises(ops.DlqStreamNotFoundError, match="'NO_SUCH_DLQ' does not exist"):
        await ops.list_records(nc, "NO_SUCH_DLQ")
    # Unknown ids fail a replay before anything is published.
    (record,) = await ops.list_records(nc, names.dlq_stream)
    with pytest.raises(ops.DlqRecordNotFoundError):
        await ops.replay(nc, names.dlq_stream, [record.id, "qx-dlq:NOPE:1"])
    assert await ops.list_records(nc, names.dlq_stream) == [record]
    with pytest.raises(ValueError, match="all_records"):
        await ops.replay(nc, names.dlq_stream)


async def test_replayed_record_is_handled_by_the_fixed_handler_with_lineage(
    make_worker: WorkerFactory, nc: Client, names: Names
) -> None:
    switch = Switch()
    async with WorkerHarness(make_worker(switch.handlers(retryable=True))) as h:
        await publish_all(nc, names, orders=1, users=1)
        await h.wait_settled(2)
        assert [s.decision for s in h.settled if s.delivery == 3] == ["dead_letter"] * 2
        records = await ops.list_records(nc, names.dlq_stream)
        assert [r.attempts for r in records] == [3, 3]

        switch.broken = False
        results = await ops.replay(nc, names.dlq_stream, [r.id for r in records])
        await h.wait_for(lambda s: sum(x.decision == "ack" for x in s) == 2)

    assert [r.ok for r in results] == [True, True]
    assert [r.event_id for r in results] == [f"replay:{r.id}" for r in records]
    assert await ops.list_records(nc, names.dlq_stream) == []  # deleted after the PubAck
    (order, order_ctx), (user, user_ctx) = sorted(switch.handled, key=lambda x: type(x[0]).__name__)
    assert isinstance(order, OrderPlaced)
    assert order == OrderPlaced(order_id="o0", total=0)
    assert order_ctx is not None
    (order_record,) = [r for r in records if ".order.placed." in r.subject]
    assert order_ctx.event_id == f"replay:{order_record.id}"
    assert order_ctx.causation_id == "eo0"
    assert order_ctx.correlation_id == "corr-o0"  # kept
    assert isinstance(user, UserRegistered)
    assert user_ctx is not None
    assert user_ctx.causation_id == "eu0"
    assert user_ctx.correlation_id == "eu0"  # had none: the original id, not the replay's
    stored = await nc.jetstream().get_msg(names.stream, results[0].stream_seq)
    assert stored.headers is not None
    assert stored.headers["traceparent"] == records[0].original_headers["traceparent"]
    assert stored.headers[ops.REPLAY_OF] == records[0].id
    assert stored.headers["Nats-Msg-Id"] == f"replay:{records[0].id}"


async def test_replay_is_idempotent_one_redelivery(
    make_worker: WorkerFactory, nc: Client, names: Names
) -> None:
    js = nc.jetstream()
    switch = Switch()
    async with WorkerHarness(make_worker(switch.handlers())) as h:
        await publish_all(nc, names, orders=1, users=0)
        await h.wait_settled(1)
        (record,) = await ops.list_records(nc, names.dlq_stream)
        switch.broken = False
        before = (await js.stream_info(names.stream)).state.messages

        # A replay that crashed after its PubAck, before deleting the record...
        message = ops.build_replay(record)
        await publish_with_retry(nc, message.subject, message.body, message.headers)
        # ...is retried: JetStream drops the duplicate, and the record is deleted now.
        (retried,) = await ops.replay(nc, names.dlq_stream, [record.id])
        assert retried.duplicate
        # A third attempt finds nothing to replay.
        with pytest.raises(ops.DlqRecordNotFoundError, match="replayed or purged already"):
            await ops.replay(nc, names.dlq_stream, [record.id])
        await h.wait_for(lambda s: any(x.decision == "ack" for x in s))

    assert (await js.stream_info(names.stream)).state.messages == before + 1
    info = await js.consumer_info(names.stream, names.durable)
    assert (info.num_pending, info.num_ack_pending) == (0, 0)
    assert [s.decision for s in h.settled] == ["dead_letter", "ack"]
    assert len(switch.handled) == 1
    assert await ops.list_records(nc, names.dlq_stream) == []


async def test_concurrent_replays_of_one_record_deliver_once(
    make_worker: WorkerFactory, nc: Client, names: Names
) -> None:
    await dead_letter(make_worker, nc, names, orders=1, users=0)
    (record,) = await ops.list_records(nc, names.dlq_stream)
    before = (await nc.jetstream().stream_info(names.stream)).state.messages
    outcomes = await asyncio.gather(
        *(ops.replay(nc, names.dlq_stream, [record.id]) for _ in range(3)),
        return_exceptions=True,
    )
    # Each either replayed (maybe as a dropped duplicate) or found the record already gone.
    for outcome in outcomes:
        assert isinstance(outcome, (list, ops.DlqRecordNotFoundError)), outcome
    assert (await nc.jetstream().stream_info(names.stream)).state.messages == before + 1


async def test_bulk_replay_by_type_then_purge(
    make_worker: WorkerFactory, nc: Client, names: Names
) -> None:
    await dead_letter(make_worker, nc, names, orders=2, users=2)
    seen: list[ops.Replayed] = []
    results = await ops.replay(
        nc,
        names.dlq_stream,
        all_records=True,
        event_type="identity.user.registered",
        on_done=seen.append,
    )
    assert seen == results
    assert [r.ok for r in results] == [True, True]
    assert {r.subject for r in results} == {f"{names.prefix}.identity.user.registered.v1"}
    left = await ops.list_records(nc, names.dlq_stream)
    assert [ops.event_type_of(r) for r in left] == ["orders.order.placed"] * 2

    assert await ops.purge(nc, names.dlq_stream, [left[0].id]) == 1
    state = await ops.dlq_state(nc, names.dlq_stream)
    assert state.records == 1
    # Records that arrive after the operator confirmed are not purged unseen: a refusing worker
    # dead-letters the two replayed events again.
    await dead_letter(make_worker, nc, names, orders=0, users=0, expect=2)
    assert await ops.purge(nc, names.dlq_stream, all_records=True, up_to_seq=state.last_seq) == 1
    late = await ops.list_records(nc, names.dlq_stream)
    assert [r.original_headers[ops.REPLAY_OF] for r in late] == [r.record_id for r in results]
    assert await ops.purge(nc, names.dlq_stream, all_records=True) == 2
    assert await ops.purge(nc, names.dlq_stream, all_records=True) == 0


async def test_records_recovered_from_advisories_can_be_replayed(
    make_worker: WorkerFactory, nc: Client, names: Names
) -> None:
    """A message exhausted while no worker wrote a record (here: nak'd by hand on its only
    delivery) is recorded by the worker's advisory path; replay must work on that record."""
    js = nc.jetstream()
    settings = names.consumer_settings(max_deliver=1)
    await provision(js, settings, 8)
    await publish(
        nc,
        names,
        OrderPlaced(order_id="adv", total=1),
        event_id="eadv",
        headers={"traceparent": TRACEPARENT},
    )
    sub = await js.pull_subscribe_bind(names.durable, stream=names.stream)
    (msg,) = await sub.fetch(1, timeout=5)
    await msg.nak()  # the only allowed delivery: the server gives up and emits an advisory

    switch = Switch()
    switch.broken = False
    worker = make_worker(switch.handlers(), consumer_overrides={"max_deliver": 1})
    async with WorkerHarness(worker) as h:
        # The worker's fetch makes the server emit the (lazy) advisory; the advisory loop
        # rebuilds the record from the source stream.
        await wait_for_record(nc, names)
        (record,) = await ops.list_records(nc, names.dlq_stream)
        assert record.origin == "advisory"
        assert record.reason == "max_deliver_exceeded:unsettled"
        assert ops.event_id_of(record) == "eadv"
        # No worker span for advisory records: the trace id comes from the producer's header
        # (ours, or the publisher's own if another test installed a tracer provider).
        assert ops.trace_id_of(record) == record.original_headers["traceparent"].split("-")[1]
        (result,) = await ops.replay(nc, names.dlq_stream, [record.id])
        assert result.ok
        await h.wait_settled(1)
    assert [s.decision for s in h.settled] == ["ack"]
    assert switch.handled[0][0] == OrderPlaced(order_id="adv", total=1)
    del msg, sub  # the manual subscription is left to the connection fixture


async def wait_for_record(nc: Client, names: Names) -> None:
    """Wait for the first record to land in the DLQ stream, using a consumer (an event)."""
    sub = await nc.jetstream().pull_subscribe(
        f"{names.dlq_prefix}.>",
        stream=names.dlq_stream,
        config=ConsumerConfig(inactive_threshold=5.0),
    )
    try:
        msgs = await sub.fetch(1, timeout=15)
        assert msgs
    finally:
        await sub.unsubscribe()


async def test_replay_of_a_record_without_original_is_reported_and_kept(
    make_worker: WorkerFactory, nc: Client, names: Names
) -> None:
    await dead_letter(make_worker, nc, names, orders=1, users=0)
    (record,) = await ops.list_records(nc, names.dlq_stream)
    # What the advisory path writes when the original is gone: no subject, no body.
    headers = {
        k: v
        for k, v in (await nc.jetstream().get_msg(names.dlq_stream, record.dlq_seq)).headers.items()
    }
    headers["Qx-Dlq-Subject"] = ""
    headers["Nats-Msg-Id"] = "gone-1"
    headers["Qx-Dlq-Stream-Seq"] = "9999"
    await publish_with_retry(nc, f"{names.dlq_prefix}.{names.stream}.x", b"", headers)
    results = await ops.replay(nc, names.dlq_stream, all_records=True)
    assert [r.ok for r in results] == [True, False]
    assert results[1].error is not None
    assert "purge the record instead" in results[1].error
    (kept,) = await ops.list_records(nc, names.dlq_stream)
    assert kept.stream_seq == 9999
