"""A DLQ record is always written, whatever the original looked like (issue 7, item 4).

Each test is one row of the issue's table, against a real server: oversized header blocks,
non-ASCII / repeated / odd-cased header fields through the worker path, the advisory path and
``qxgen dlq``, malformed percent-encoding and unsupported spec versions, replica settings, and
a DLQ that is briefly unavailable.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import click
import pytest
from click.testing import CliRunner
from nats.aio.client import Client

from qx import dlq, ops
from qx.core import Result
from qx.cqrs import integration_event_handler
from qx.events import EventRegistry
from qx.exceptions import ConfigurationError, NonRetryableError
from qx.service import worker_app
from qx.testing import WorkerHarness
from qx.transport import build_header_block, ensure_dlq, get_stored, provision
from qx.worker import WorkerSettings
from qxgen.ops_commands import register
from tests.runtime.conftest import Names, WorkerFactory
from tests.runtime.events import OrderPlaced
from tests.runtime.helpers import wait_for_dlq
from tests.runtime.rawpub import raw_publish

pytestmark = pytest.mark.nats

BODY = json.dumps({"order_id": "o-1", "total": 1}).encode()


def ce(event_id: str, **extra: str) -> list[tuple[str, str]]:
    return [
        ("ce-specversion", "1.0"),
        ("ce-id", event_id),
        ("ce-type", "orders.order.placed"),
        ("ce-source", "elsewhere"),
        ("ce-qxversion", "1"),
        *extra.items(),
    ]


def subject(names: Names) -> str:
    return f"{names.prefix}.orders.order.placed.v1"


@integration_event_handler(OrderPlaced)
class Refuses:
    async def handle(self, event: OrderPlaced) -> Result[None]:
        raise NonRetryableError(f"refusing {event.order_id}")


@integration_event_handler(OrderPlaced)
class Accepts:
    seen: list[str] = []

    async def handle(self, event: OrderPlaced) -> Result[None]:
        Accepts.seen.append(event.order_id)
        return Result.success(None)


async def walk_away(nc: Client, names: Names, count: int, deliveries: int = 3) -> None:
    """A worker that crashes mid-message on every delivery: take each message, never settle."""
    sub = await nc.jetstream().pull_subscribe_bind(names.durable, stream=names.stream)
    for _ in range(deliveries):
        got = 0
        while got < count:
            got += len(await sub.fetch(count - got, timeout=5))
    await sub.unsubscribe()


@click.group()
def cli() -> None:
    """Stands in for the qxgen group."""


register(cli)


def run_cli(nats_url: str, names: Names, *args: str) -> str:
    env = {"NATS_URL": nats_url, "QX_DLQ_STREAM": names.dlq_stream, "COLUMNS": "200"}
    result = CliRunner().invoke(cli, ["dlq", *args], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


async def in_thread(func: Any, *args: Any) -> Any:
    """The CLI runs its own event loop; keep it off the test's."""
    return await asyncio.to_thread(func, *args)


# -- ~64 KB header block ---------------------------------------------------------------------


def big_headers(event_id: str, total: int) -> list[tuple[str, str]]:
    pairs = ce(event_id)
    filler = total - len(build_header_block(pairs)) - len("X-Pad-00: \r\n") * 70
    pairs += [(f"X-Pad-{i:02}", "p" * (filler // 70)) for i in range(70)]
    return pairs


async def test_poison_with_a_64kb_header_block_is_recorded_by_the_worker(
    make_worker: WorkerFactory, nc: Client, names: Names, nats_url: str
) -> None:
    pairs = big_headers("big-1", 64 * 1024 - 200)  # fits the server; +Qx-Dlq-* would not
    await provision(nc.jetstream(), names.consumer_settings(), batch=8)
    await raw_publish(nats_url, subject(names), build_header_block(pairs), b"{not json")
    async with WorkerHarness(make_worker([Accepts])):
        (record,) = await wait_for_dlq(nc, names.dlq_stream)
    assert record.reason == "poison:invalid_json"
    assert record.origin == "worker"
    assert record.headers == pairs
    assert record.body == b"{not json"
    raw = await get_stored(nc, names.dlq_stream, record.dlq_seq)
    assert raw.header_map[dlq.H_HEADERS] == "in-body"
    shown = await in_thread(run_cli, nats_url, names, "show", record.id)
    assert "X-Pad-69" in shown
    assert "{not json" in shown


async def test_exhausted_64kb_header_message_is_recorded_by_the_advisory_path(
    make_worker: WorkerFactory, nc: Client, names: Names, nats_url: str
) -> None:
    pairs = big_headers("big-2", 64 * 1024 - 200)
    await provision(nc.jetstream(), names.consumer_settings(ack_wait=0.5), batch=8)
    await raw_publish(nats_url, subject(names), build_header_block(pairs), b"{not json")
    await walk_away(nc, names, 1)
    async with WorkerHarness(make_worker([Accepts], consumer_overrides={"ack_wait": 0.5})):
        (record,) = await wait_for_dlq(nc, names.dlq_stream)
    assert record.origin == "advisory"
    assert record.headers == pairs
    assert record.body == b"{not json"


async def test_payload_too_large_for_a_copy_is_referenced_and_replayable(
    make_worker: WorkerFactory, nc: Client, names: Names, nats_url: str
) -> None:
    """~1 MB original (headers + body at the server's limit): the record keeps a reference."""
    pairs = ce("huge", **{"X-Note": "zoë"})
    body = json.dumps({"order_id": "o-" + "x" * (nc.max_payload - 1200), "total": 1}).encode()
    await provision(nc.jetstream(), names.consumer_settings(), batch=8)
    await raw_publish(nats_url, subject(names), build_header_block(pairs), body)
    async with WorkerHarness(make_worker([Refuses])):
        (record,) = await wait_for_dlq(nc, names.dlq_stream)
    assert record.reason == "non_retryable:non_retryable"
    assert record.payload_omitted
    assert record.headers == pairs
    assert record.body == b""
    shown = await in_thread(run_cli, nats_url, names, "show", record.id)
    assert f"from {names.stream} seq" in shown
    assert "zoë" in shown
    (result,) = await ops.replay(nc, names.dlq_stream, [record.id])
    assert result.ok, result.error
    assert result.stream_seq is not None
    replayed = await get_stored(nc, names.stream, result.stream_seq)
    assert replayed.data == body
    assert ("X-Note", "zoë") in replayed.headers


# -- non-ASCII, repeated and odd-cased fields ----------------------------------------------------


async def test_non_ascii_and_repeated_headers_survive_the_advisory_path(
    make_worker: WorkerFactory, nc: Client, names: Names, nats_url: str
) -> None:
    """Was: get_msg handed back email.header.Header objects; 3 of 6 messages lost."""
    await provision(nc.jetstream(), names.consumer_settings(ack_wait=0.5), batch=8)
    extra = [("X-Note", "zoë ✓ 日本"), ("X-Multi", "a"), ("x-multi", "b"), ("X-Multi", "c")]
    for i in range(6):
        block = build_header_block(ce(f"adv-{i}") + extra)
        await raw_publish(nats_url, subject(names), block, BODY)
    await walk_away(nc, names, 6)
    async with WorkerHarness(make_worker([Accepts], consumer_overrides={"ack_wait": 0.5})):
        records = await wait_for_dlq(nc, names.dlq_stream, count=6)
    assert len(records) == 6
    assert sorted(ops.event_id_of(r) or "" for r in records) == [f"adv-{i}" for i in range(6)]
    assert all(r.origin == "advisory" for r in records)
    assert all(r.headers == ce(ops.event_id_of(r) or "") + extra for r in records)


async def test_repeated_odd_cased_non_ascii_fields_survive_worker_show_replay_and_purge(
    make_worker: WorkerFactory, nc: Client, names: Names, nats_url: str
) -> None:
    pairs = [
        ("CE-SPECVERSION", "1.0"),
        ("Ce-Id", "odd-1"),
        ("ce-type", "orders.order.placed"),
        ("CE-Source", "elsewhere"),
        ("X-Note", "zoë"),
        ("X-Multi", "one"),
        ("X-Multi", "two"),
        ("x-multi", "three"),
    ]
    await provision(nc.jetstream(), names.consumer_settings(), batch=8)
    await raw_publish(nats_url, subject(names), build_header_block(pairs), BODY)
    async with WorkerHarness(make_worker([Refuses])):
        (record,) = await wait_for_dlq(nc, names.dlq_stream)
    assert record.reason == "non_retryable:non_retryable"
    assert record.headers == pairs  # re-read from the stream: nats-py's delivery keeps one X-Multi
    assert record.traceback
    assert "NonRetryableError: refusing o-1" in record.traceback

    listed = await in_thread(run_cli, nats_url, names, "list")
    assert record.id in listed
    shown = await in_thread(run_cli, nats_url, names, "show", record.id)
    for text in ("zoë", "one", "two", "three", "odd-1", "Traceback", "refusing o-1"):
        assert text in shown

    replayed_out = await in_thread(run_cli, nats_url, names, "replay", record.id, "--yes")
    assert "1" in replayed_out
    info = await nc.jetstream().stream_info(names.stream)
    replayed = await get_stored(nc, names.stream, info.state.last_seq)
    fields = [(k, v) for k, v in replayed.headers if k.lower().startswith("x-")]
    assert fields == [
        ("X-Note", "zoë"),
        ("X-Multi", "one"),
        ("X-Multi", "two"),
        ("x-multi", "three"),
    ]
    ids = [(k, v) for k, v in replayed.headers if k.lower() == "ce-id"]
    assert ids == [("Ce-Id", f"replay:{record.id}")]  # once, in the producer's spelling
    assert ("ce-causationid", "odd-1") in replayed.headers

    # The replay fails again (the handler still refuses): a new record, then purge it.
    async with WorkerHarness(make_worker([Refuses])):
        (again,) = await wait_for_dlq(nc, names.dlq_stream)
    assert again.original_headers["X-Note"] == "zoë"
    purged = await in_thread(run_cli, nats_url, names, "purge", again.id, "--yes")
    assert "Purged 1" in purged
    assert await ops.list_records(nc, names.dlq_stream) == []


# -- poison with its own reason codes ------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "value", "reason"),
    [
        ("ce-id", "p-%zz-%E0%A4", "invalid_percent_encoding"),
        ("ce-tenantid", "acme%", "invalid_percent_encoding"),
        ("ce-specversion", "0.3", "unsupported_specversion"),
    ],
)
async def test_bad_ce_values_are_poison_with_their_own_reason(
    make_worker: WorkerFactory,
    nc: Client,
    names: Names,
    nats_url: str,
    header: str,
    value: str,
    reason: str,
) -> None:
    pairs = [(k, v) for k, v in ce("ok-id") if k != header] + [(header, value)]
    await provision(nc.jetstream(), names.consumer_settings(), batch=8)
    await raw_publish(nats_url, subject(names), build_header_block(pairs), BODY)
    Accepts.seen.clear()
    async with WorkerHarness(make_worker([Accepts])):
        (record,) = await wait_for_dlq(nc, names.dlq_stream)
    assert Accepts.seen == []
    assert record.reason == f"poison:{reason}"
    assert record.attempts == 1  # poison: no retries
    assert record.original_headers[header] == value  # kept exactly as it came


# -- replicas and availability -------------------------------------------------------------------


async def test_dlq_replicas_default_to_the_source_streams_and_refuse_what_one_server_cannot(
    nc: Client, names: Names
) -> None:
    js = nc.jetstream()
    advisory_stream = await provision(js, names.consumer_settings(), batch=8)
    for stream in (names.dlq_stream, advisory_stream):
        assert (await js.stream_info(stream)).config.num_replicas == 1
    with pytest.raises(ConfigurationError, match="QX_DLQ_REPLICAS"):
        await ensure_dlq(js, names.consumer_settings(dlq_replicas=3, dlq_stream=names.stream + "X"))


async def test_dlq_briefly_unavailable_on_the_final_delivery_is_written_once_it_is_back(
    make_worker: WorkerFactory, nc: Client, names: Names, caplog: pytest.LogCaptureFixture
) -> None:
    js = nc.jetstream()
    settings = names.consumer_settings()

    @integration_event_handler(OrderPlaced)
    class Broken:
        async def handle(self, event: OrderPlaced) -> Result[None]:
            raise RuntimeError(f"downstream is down for {event.order_id}")

    async def back_later() -> None:
        # Back only once the final delivery's write has failed and is being retried, so the
        # record can only come from the worker waiting for the DLQ.
        deadline = asyncio.get_running_loop().time() + 20
        while not any(
            r.name == "qx.dlq" and "retrying in" in r.getMessage() for r in caplog.records
        ):
            assert asyncio.get_running_loop().time() < deadline, "no retried DLQ write"
            await asyncio.sleep(0.05)
        await ensure_dlq(js, settings)

    caplog.set_level("WARNING", logger="qx.dlq")
    worker = make_worker([Broken])
    async with WorkerHarness(worker) as h:
        await js.delete_stream(names.dlq_stream)  # the DLQ is down from the start
        restore = asyncio.create_task(back_later())
        await js.publish(subject(names), BODY, headers=dict(ce("late-1")))
        (record,) = await wait_for_dlq(nc, names.dlq_stream, timeout=20)
        await restore
        settled = await h.wait_for(lambda s: len(s) >= 3)
    assert record.origin == "worker"  # the worker waited for the DLQ instead of giving up
    assert record.attempts == 3
    assert record.traceback
    assert "RuntimeError: downstream is down for o-1" in record.traceback
    assert [s.dead_letter_written for s in settled][-1] is True


async def test_qx_dlq_replicas_reaches_the_consumer_settings_of_a_service_worker(
    monkeypatch: pytest.MonkeyPatch, registry: EventRegistry
) -> None:
    """The generated worker reads WorkerSettings from QX_* variables and builds through
    worker_app: the replica setting must arrive in ConsumerSettings."""
    monkeypatch.setenv("QX_DLQ_REPLICAS", "3")
    monkeypatch.setenv("QX_STREAM", "ORDERS")
    monkeypatch.setenv("QX_DURABLE", "orders")
    async with worker_app(settings=WorkerSettings(), registry=registry, handlers=[]) as worker:
        assert worker.consumer.settings.dlq_replicas == 3
    monkeypatch.delenv("QX_DLQ_REPLICAS")
    async with worker_app(settings=WorkerSettings(), registry=registry, handlers=[]) as worker:
        assert worker.consumer.settings.dlq_replicas is None  # = the source stream's count


async def test_a_dlq_stream_with_a_small_max_msg_size_still_gets_a_reference_record(
    make_worker: WorkerFactory, nc: Client, names: Names, nats_url: str
) -> None:
    """Ops may cap the DLQ stream's message size: a refused layout falls through to a smaller
    one instead of retrying forever."""
    js = nc.jetstream()
    await js.add_stream(
        name=names.dlq_stream, subjects=[f"{names.dlq_prefix}.>"], max_msg_size=8192
    )
    await provision(js, names.consumer_settings(), batch=8)
    body = json.dumps({"order_id": "o-" + "y" * 20_000, "total": -1}).encode()
    await raw_publish(nats_url, subject(names), build_header_block(ce("capped")), body)
    async with WorkerHarness(make_worker([Accepts])):
        (record,) = await wait_for_dlq(nc, names.dlq_stream)
    assert record.reason == "poison:schema_invalid"
    assert record.payload_omitted
    assert record.headers == ce("capped")
    (result,) = await ops.replay(nc, names.dlq_stream, [record.id])
    assert result.ok, result.error
