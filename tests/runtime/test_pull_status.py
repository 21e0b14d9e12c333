"""The continuous pull against a real server: every status it can be sent, and recovery.

Each test provokes one server behaviour (100 heartbeat, 404, 408, 409 max waiting / max bytes /
consumer deleted, 503, silence, restart), checks the pull saw it (``pull_stats``), and checks
what matters to a user: messages published afterwards are still handled, each once.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client
from nats.js.api import AckPolicy, ConsumerConfig

from qx.embedded import EmbeddedNatsServer
from qx.events import PullStats
from qx.testing import WorkerHarness
from qx.transport import _pull as pull_module
from qx.worker import WorkerRuntime
from tests.runtime.conftest import Names, WorkerFactory
from tests.runtime.events import OrderPlaced, recording_handler
from tests.runtime.helpers import publish

pytestmark = pytest.mark.nats


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll a condition over the worker's own counters (bounded)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not reached in time; pull: {_last}")
        await asyncio.sleep(0.02)


_last: list[PullStats] = []


def stats(worker: WorkerRuntime) -> PullStats:
    s = worker.consumer.pull_stats
    assert s is not None
    _last[:] = [s]
    return s


async def test_idle_pull_gets_heartbeats_and_timeouts_and_keeps_consuming(
    make_worker: WorkerFactory, nc: Client, names: Names
) -> None:
    handled: list[str] = []
    worker = make_worker(
        [recording_handler(handled)], pull_expires=0.6, idle_heartbeat=0.2, batch=4
    )
    async with WorkerHarness(worker) as h:
        await until(lambda: stats(worker).heartbeats >= 2 and stats(worker).timeouts >= 2)
        assert stats(worker).missed_heartbeats == 0
        # Expired requests were replaced: the credit still asks for a full window.
        assert worker.consumer.pull_stats is not None
        for i in range(10):
            await publish(nc, names.prefix, OrderPlaced(order_id=f"o{i}", total=i))
        await h.wait_settled(10)
    assert sorted(handled) == sorted(f"o{i}" for i in range(10))


async def test_a_404_on_the_inbox_ends_nothing(
    make_worker: WorkerFactory, nc: Client, names: Names
) -> None:
    """Only no_wait requests get 404 (qx sends none); one arriving anyway is survived."""
    handled: list[str] = []
    worker = make_worker([recording_handler(handled)], pull_expires=2.0, idle_heartbeat=0.5)
    async with WorkerHarness(worker) as h:
        await until(lambda: stats(worker).heartbeats >= 1)  # the inbox is known to the server
        inbox = worker.consumer.pull_inbox
        assert inbox is not None
        await nc.publish(
            f"$JS.API.CONSUMER.MSG.NEXT.{names.stream}.{names.durable}",
            json.dumps({"batch": 1, "no_wait": True}).encode(),
            reply=inbox,
        )
        await until(lambda: stats(worker).no_messages >= 1)
        await publish(nc, names.prefix, OrderPlaced(order_id="after-404", total=1))
        await h.wait_settled(1)
    assert handled == ["after-404"]


async def test_leader_change_advisory_and_its_409_re_send_the_pull_once(
    make_worker: WorkerFactory, nc: Client, names: Names, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A consumer leader change (single server: the advisory and the 409 the cluster would
    send are published by the test) re-sends the requests at once; its second signal is the
    same change and asks for nothing more, unless it names yet another leader. The real
    step-down is a make test-faults scenario.
    """
    # Every signal below counts as "within the settle time", however slow the machine is.
    monkeypatch.setattr(pull_module, "LEADER_SETTLE", 60.0)
    handled: list[str] = []
    worker = make_worker([recording_handler(handled)], pull_expires=30.0, idle_heartbeat=5.0)
    async with WorkerHarness(worker) as h:
        await until(lambda: stats(worker).requests >= 1)
        inbox = worker.consumer.pull_inbox
        assert inbox is not None
        # The server learns of both subscriptions in order: once a ping round-trips they stand.
        await worker.consumer.nc.flush()
        requests = stats(worker).requests
        subject = f"$JS.EVENT.ADVISORY.CONSUMER.LEADER_ELECTED.{names.stream}.{names.durable}"

        async def elected(leader: str) -> None:
            kind = "io.nats.jetstream.advisory.v1.consumer_leader_elected"
            await nc.publish(subject, json.dumps({"type": kind, "leader": leader}).encode())

        await elected("n2")
        await until(lambda: stats(worker).leader_changes == 1 and stats(worker).requests > requests)
        after_advisory = stats(worker).requests
        await nc.publish(inbox, b"", headers={"Status": "409", "Description": "Leadership Change"})
        await until(lambda: stats(worker).conflicts == 1)
        assert stats(worker).leader_changes == 1
        assert stats(worker).requests == after_advisory  # the 409 of the same change: no re-send
        # The same advisory again is the same change; another leader within the settle time
        # is a second one (a flapping leader). Advisories arrive in order: once n3 is seen,
        # the repeated n2 was handled before it.
        await elected("n2")
        await elected("n3")
        await until(lambda: stats(worker).leader == "n3")
        assert stats(worker).leader_changes == 2
        await publish(nc, names.prefix, OrderPlaced(order_id="after-change", total=1))
        await h.wait_settled(1)
    assert handled == ["after-change"]


async def test_consumer_allowing_one_waiting_request_still_drains(
    make_worker: WorkerFactory, nc: Client, names: Names
) -> None:
    """An ops-made consumer that allows one waiting request; qx's window asks with two.

    Measured on server 2.15: requests carrying idle_heartbeat over max_waiting get no 409
    (without a heartbeat they get ``409 Exceeded MaxWaiting``); either way the pull must
    keep the consumer drained."""
    js = nc.jetstream()
    await js.add_stream(name=names.stream, subjects=[f"{names.prefix}.>"])
    await js.add_consumer(
        names.stream,
        ConsumerConfig(
            durable_name=names.durable,
            ack_policy=AckPolicy.EXPLICIT,
            max_deliver=3,
            ack_wait=2.0,
            max_waiting=1,
        ),
    )
    handled: list[str] = []
    worker = make_worker(
        [recording_handler(handled)],
        concurrency=4,
        batch=4,
        pull_expires=2.0,
        idle_heartbeat=0.5,
        consumer_overrides={"provision": False},
    )
    async with WorkerHarness(worker) as h:
        await until(lambda: stats(worker).requests >= 2)
        for i in range(20):
            await publish(nc, names.prefix, OrderPlaced(order_id=f"o{i}", total=i))
        await h.wait_settled(20)
    assert sorted(handled) == sorted(f"o{i}" for i in range(20))


async def test_409_message_larger_than_max_bytes_drops_the_limit(
    make_worker: WorkerFactory, nc: Client, names: Names, caplog: pytest.LogCaptureFixture
) -> None:
    handled: list[str] = []
    worker = make_worker(
        [recording_handler(handled)], max_bytes=64, pull_expires=2.0, idle_heartbeat=0.5
    )
    async with WorkerHarness(worker) as h:
        await publish(nc, names.prefix, OrderPlaced(order_id="x" * 200, total=1))
        await h.wait_settled(1)
        assert stats(worker).conflicts >= 1
        assert worker.consumer.pull_stats is not None
    assert handled == ["x" * 200]
    assert any("larger than the pull max_bytes=64" in r.getMessage() for r in caplog.records)


async def test_consumer_deleted_under_a_running_worker_409_then_503_then_resumes(
    make_worker: WorkerFactory, nc: Client, names: Names
) -> None:
    handled: list[str] = []
    worker = make_worker([recording_handler(handled)], pull_expires=5.0, idle_heartbeat=1.0)
    async with WorkerHarness(worker) as h:
        await publish(nc, names.prefix, OrderPlaced(order_id="before", total=1))
        await h.wait_settled(1)
        await nc.jetstream().delete_consumer(names.stream, names.durable)
        await until(lambda: stats(worker).conflicts >= 1)  # 409 Consumer Deleted
        assert "Consumer Deleted" in stats(worker).last_status or stats(worker).no_responders
        await publish(nc, names.prefix, OrderPlaced(order_id="after", total=1))
        await h.wait_for(lambda s: any(x.decision == "ack" for x in s[1:]), timeout=20)
        await until(lambda: worker.is_ready)
    assert handled[0] == "before"
    assert "after" in handled
    assert stats(worker).no_responders >= 1  # re-pulls against the missing consumer: 503


async def test_missed_heartbeats_are_detected_and_the_pull_recovers(tmp_path: Path) -> None:
    """The server is frozen (SIGSTOP): no heartbeats, no disconnect. The pull notices the
    silence, and once the server runs again messages flow without a restart of the worker."""
    with EmbeddedNatsServer(tmp_path / "nats") as server:
        handled: list[str] = []
        worker = _standalone_worker(server.url, handled, expires=2.0, heartbeat=0.3)
        async with WorkerHarness(worker) as h:
            await until(lambda: stats(worker).heartbeats >= 1)
            pid = server.running_pid()
            assert pid is not None
            os.kill(pid, signal.SIGSTOP)
            try:
                await until(lambda: stats(worker).missed_heartbeats >= 1, timeout=10)
            finally:
                os.kill(pid, signal.SIGCONT)
            async with await nats.connect(server.url) as producer:
                await publish(producer, "orders", OrderPlaced(order_id="after-freeze", total=1))
            await h.wait_settled(1, timeout=20)
    assert handled == ["after-freeze"]


async def test_server_restart_resends_pull_requests_at_once(tmp_path: Path) -> None:
    """Requests expire after 60 s and heartbeats are 10 s apart, so only the reconnect can
    explain a message published after the restart being handled within seconds."""
    with EmbeddedNatsServer(tmp_path / "nats") as server:
        handled: list[str] = []
        worker = _standalone_worker(server.url, handled, expires=60.0, heartbeat=10.0)
        async with WorkerHarness(worker) as h:
            await until(lambda: stats(worker).requests >= 1)
            resets = stats(worker).resets
            await asyncio.to_thread(server.restart)
            await until(lambda: stats(worker).resets > resets, timeout=10)
            started = time.monotonic()
            async with await nats.connect(server.url) as producer:
                await publish(producer, "orders", OrderPlaced(order_id="after-restart", total=1))
            await h.wait_settled(1, timeout=10)
            assert time.monotonic() - started < 10  # vs up to 20 s via missed heartbeats
    assert handled == ["after-restart"]


def _standalone_worker(
    url: str, handled: list[str], *, expires: float, heartbeat: float
) -> WorkerRuntime:
    from qx.cqrs import Mediator
    from qx.events import ConsumerSettings, EventRegistry, NatsConsumer, NatsSettings

    registry = EventRegistry()
    registry.register(OrderPlaced)
    return WorkerRuntime(
        consumer=NatsConsumer(
            NatsSettings(url=url, reconnect_time_wait=0.1),
            ConsumerSettings(
                stream="ORDERS",
                durable="pull",
                subjects=["orders.>"],
                ack_wait=2.0,
                dlq_stream="ORDERS_DLQ",
                advisory_stream="ORDERS_ADV",
            ),
        ),
        registry=registry,
        mediator=Mediator([recording_handler(handled)]),
        fetch_timeout=0.5,
        shutdown_timeout=5.0,
        pull_expires=expires,
        idle_heartbeat=heartbeat,
    )


async def test_stop_during_an_outage_returns(tmp_path: Path) -> None:
    """SIGTERM while the server is down: closing the half-dead connection raises inside
    nats-py; stop() must still return instead of waiting forever."""
    server = EmbeddedNatsServer(tmp_path / "nats")
    server.start()
    try:
        worker = _standalone_worker(server.url, [], expires=2.0, heartbeat=0.5)
        running = asyncio.create_task(worker.run())
        await worker.wait_running()
        await asyncio.to_thread(server.stop)
        await until(lambda: not worker.consumer.nc.is_connected)
        await asyncio.wait_for(worker.stop(), 20)
        await asyncio.wait_for(running, 5)
    finally:
        server.stop()
