"""SIGKILL at the two dangerous points; effects happen once and nothing is lost.

* The worker dies after the inbox transaction committed and before it acked: JetStream
  redelivers after ack_wait, the restarted worker finds (consumer, event id) and acks.
* The relay dies after the PubAcks and before marking the rows sent: the restarted relay
  publishes them again with the same Nats-Msg-Id; JetStream drops them inside its duplicate
  window, and past the window the inbox drops them.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from nats.aio.client import Client
from sqlalchemy import text

from qx import ops
from qx.events import NatsPublisher
from qx.outbox import Outbox, Relay, RelaySettings
from qx.testing import WorkerHarness
from tests.outbox.app import create_payments, make_handler, make_worker
from tests.outbox.conftest import Stream
from tests.outbox.events import OrderCreated
from tests.outbox.helpers import stream_messages, wait_until

pytestmark = [pytest.mark.nats, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


def _spawn(role: str, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.outbox.app", role, *args],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _wait_exit(proc: subprocess.Popen[bytes], timeout: float = 30.0) -> int:
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError(f"process did not exit; stderr: {proc.stderr.read()!r}") from None


def _stop(proc: subprocess.Popen[bytes]) -> str:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    _wait_exit(proc)
    return proc.stderr.read().decode(errors="replace") if proc.stderr else ""


async def _count(outbox: Outbox, sql: str) -> int:
    async with outbox.engine.connect() as conn:
        return int((await conn.execute(text(sql))).scalar() or 0)


async def test_worker_killed_between_commit_and_ack_applies_effect_once(
    outbox: Outbox, db_url: str, nc: Client, nats_url: str, stream: Stream, tmp_path: Path
) -> None:
    async with outbox.engine.begin() as conn:
        await create_payments(conn)
    runs, marker = tmp_path / "runs", tmp_path / "killed"
    common = ["--nats", nats_url, "--db", db_url, "--stream", stream.name]
    common += ["--prefix", stream.prefix, "--runs", str(runs)]
    first = _spawn("worker", *common, "--kill-marker", str(marker))
    await NatsPublisher(nc, source="tests").publish(
        OrderCreated(order_id="o1"), subject=stream.subject("shop.order.created"), event_id="e1"
    )
    code = await asyncio.to_thread(_wait_exit, first)
    assert code == -signal.SIGKILL, first.stderr.read() if first.stderr else ""
    assert marker.exists()  # it died right after the commit
    assert await _count(outbox, "SELECT count(*) FROM payments") == 1
    assert await _count(outbox, "SELECT count(*) FROM qx_inbox") == 1

    second = _spawn("worker", *common)  # no kill this time
    try:
        js = nc.jetstream()

        async def settled() -> bool:
            info = await js.consumer_info(stream.name, "payments")
            return (
                info.num_ack_pending == 0
                and info.num_pending == 0
                and info.delivered.stream_seq >= 1
            )

        await wait_until(settled, timeout=30, what="redelivery acked")
        info = await js.consumer_info(stream.name, "payments")
    finally:
        log = _stop(second)
    assert info.delivered.consumer_seq == 2, log  # the message really came back, once
    assert runs.read_text().split() == ["o1"]  # ...and the handler did not run again
    assert await _count(outbox, "SELECT count(*) FROM payments") == 1
    assert await _count(outbox, "SELECT count(*) FROM qx_outbox") == 1  # one PaymentTaken


async def test_worker_killed_after_commit_on_last_delivery_then_dlq_replay_applies_once(
    outbox: Outbox, db_url: str, nc: Client, nats_url: str, stream: Stream, tmp_path: Path
) -> None:
    """The worker dies after the inbox commit of the last allowed delivery: the server gives
    up on the message and the advisory path dead-letters it as ``max_deliver_exceeded:unsettled``
    although its effect is committed. An operator replays it; it must not run again."""
    async with outbox.engine.begin() as conn:
        await create_payments(conn)
    runs, marker = tmp_path / "runs", tmp_path / "killed"
    common = ["--nats", nats_url, "--db", db_url, "--stream", stream.name]
    common += ["--prefix", stream.prefix, "--runs", str(runs), "--max-deliver", "1"]
    first = _spawn("worker", *common, "--kill-marker", str(marker))
    await NatsPublisher(nc, source="tests").publish(
        OrderCreated(order_id="o1"), subject=stream.subject("shop.order.created"), event_id="e1"
    )
    code = await asyncio.to_thread(_wait_exit, first)
    assert code == -signal.SIGKILL, first.stderr.read() if first.stderr else ""
    assert await _count(outbox, "SELECT count(*) FROM payments") == 1

    dlq = f"{stream.name}_DLQ"
    handler = make_handler(outbox, runs, payment_subject=stream.subject("shop.payment.taken"))
    worker = make_worker(nats_url, stream.name, stream.prefix, handler, max_deliver=1)
    async with WorkerHarness(worker) as h:

        async def dead_lettered() -> bool:
            return len(await ops.list_records(nc, dlq)) == 1

        await wait_until(dead_lettered, timeout=30, what="the advisory path's DLQ record")
        (record,) = await ops.list_records(nc, dlq)
        assert record.reason == "max_deliver_exceeded:unsettled"
        assert ops.event_id_of(record) == "e1"

        (done,) = await ops.replay_records(nc, dlq, [record])
        assert done.error is None
        (settled,) = await h.wait_settled(1, timeout=30)
    assert (settled.event_id, settled.decision) == (done.event_id, "ack")
    assert runs.read_text().split() == ["o1"]  # the replay did not run the handler again
    assert await _count(outbox, "SELECT count(*) FROM payments") == 1
    assert await _count(outbox, "SELECT count(*) FROM qx_outbox") == 1  # one PaymentTaken


@pytest.mark.parametrize("past_dedup_window", [False, True])
async def test_relay_killed_between_publish_and_mark_loses_nothing_duplicates_nothing(
    outbox: Outbox,
    db_url: str,
    nc: Client,
    nats_url: str,
    tmp_path: Path,
    past_dedup_window: bool,
) -> None:
    js = nc.jetstream()
    name = "OBK" + os.urandom(5).hex().upper()
    prefix = name.lower()
    window = 0.5 if past_dedup_window else 60.0
    await js.add_stream(name=name, subjects=[f"{prefix}.>"], duplicate_window=window)
    stream = Stream(name, prefix)
    async with outbox.engine.begin() as conn:
        await create_payments(conn)
    orders = [f"o{i}" for i in range(5)]
    for order in orders:
        async with outbox.transaction() as tx:
            await tx.publish(
                OrderCreated(order_id=order),
                key=order,
                subject=stream.subject("shop.order.created"),
            )

    marker = tmp_path / "killed"
    relay = _spawn("relay", "--nats", nats_url, "--db", db_url, "--kill-marker", str(marker))
    code = await asyncio.to_thread(_wait_exit, relay)
    assert code == -signal.SIGKILL, relay.stderr.read() if relay.stderr else ""
    assert len(await stream_messages(nc, name)) == 5  # published and acked...
    assert await _count(outbox, "SELECT count(*) FROM qx_outbox WHERE sent_at IS NULL") == 5

    if past_dedup_window:
        time.sleep(window + 0.5)
    restarted = Relay(outbox.engine, nc, RelaySettings(lease_ttl=1.0), name="crash-relay")
    assert await restarted.relay_once() == 5
    assert await _count(outbox, "SELECT count(*) FROM qx_outbox WHERE sent_at IS NULL") == 0
    stored = await stream_messages(nc, name)
    if past_dedup_window:
        assert len(stored) == 10  # JetStream could no longer tell: the inbox must
    else:
        assert restarted.stats.duplicates == 5
        assert len(stored) == 5

    runs = tmp_path / "runs"
    handler = make_handler(outbox, runs, payment_subject=stream.subject("shop.payment.taken"))
    async with WorkerHarness(make_worker(nats_url, name, prefix, handler)) as h:
        await h.wait_settled(len(stored), timeout=30)
    assert sorted(runs.read_text().split()) == orders
    assert await _count(outbox, "SELECT count(*) FROM payments") == 5
    assert await _count(outbox, "SELECT count(DISTINCT order_id) FROM payments") == 5
