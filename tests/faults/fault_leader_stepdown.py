"""The continuous pull through consumer leader changes on a 3-node cluster (R3 stream).

The consumer's leader is asked to step down (``$JS.API.CONSUMER.LEADER.STEPDOWN``) twice while
an in-process worker consumes a steady stream. The open pull requests die with the old leader;
the server says so with ``409 Leadership Change`` (which does not always reach the client) and
with a ``CONSUMER.LEADER_ELECTED`` advisory, and the pull must send new requests to the new
leader. Requests expire after 60 s and heartbeats are 10 s apart, so neither an expiry nor a
missed heartbeat can explain the worker getting messages again within seconds: only the
leader-change handling can. The worker runs in this process so its ``pull_stats`` can be read.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from qx.cqrs import Mediator
from qx.events import ConsumerSettings, EventRegistry, NatsConsumer, NatsSettings, PullStats
from qx.testing import WorkerHarness
from qx.worker import RetryPolicy, WorkerRuntime
from tests.faults.fault_cluster import SUBJECT, leader_of
from tests.faults.harness import (
    Cluster,
    account,
    connect,
    dlq_records,
    provision_stream,
    publish_steadily,
    wait_until,
)
from tests.runtime.events import ORDER_SCHEMA, OrderPlaced, recording_handler

pytestmark = pytest.mark.nats

STEPDOWNS = 2
# Seconds for deliveries to resume after a step-down: the 409 or the advisory re-sends the
# requests within a second; the bound is half the missed-heartbeat fallback (2 x 10 s here),
# so a run that only recovered through missed heartbeats fails.
RECOVERY = 10.0


def in_process_worker(url: str, handled: list[str]) -> WorkerRuntime:
    Record = recording_handler(handled)
    registry = EventRegistry()
    registry.register(OrderPlaced, schema=ORDER_SCHEMA)
    return WorkerRuntime(
        consumer=NatsConsumer(
            NatsSettings(url=url, reconnect_time_wait=0.25, connect_timeout=2.0),
            ConsumerSettings(
                stream="FAULTS",
                durable="faults",
                subjects=["faults.>"],
                ack_wait=2.0,
                max_deliver=3,
            ),
        ),
        registry=registry,
        mediator=Mediator([Record]),
        concurrency=8,
        batch=32,
        fetch_timeout=0.5,
        retry=RetryPolicy(base_delay=0.1, factor=2.0, max_delay=1.0),
        shutdown_timeout=10,
        pull_expires=60.0,
        idle_heartbeat=10.0,
    )


async def test_consumer_leader_steps_down_while_a_worker_consumes(
    cluster: Cluster, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="qx.consumer")
    started = time.monotonic()
    nc = await connect(cluster.url)
    await provision_stream(nc, "FAULTS", "faults.>", replicas=3)
    ids = [f"s-{i}" for i in range(1500)]
    published: list[str] = []
    handled: list[str] = []
    worker = in_process_worker(cluster.url, handled)
    leaders: list[str] = []
    stalls: list[float] = []
    async with WorkerHarness(worker):
        await wait_until(lambda: worker.consumer.pull_stats is not None, 30, "the pull")
        stats = worker.consumer.pull_stats
        assert isinstance(stats, PullStats)
        publishing = asyncio.create_task(publish_steadily(nc, SUBJECT, ids, 250.0, published))
        for k in range(STEPDOWNS):
            await wait_until(
                lambda k=k: len(set(handled)) >= (k + 1) * len(ids) // (STEPDOWNS + 1),
                60,
                f"{k + 1}/{STEPDOWNS + 1} handled",
            )
            leader = await leader_of(nc, "FAULTS", "faults")
            leaders.append(leader)
            requests = stats.requests
            reply = await nc.request(
                "$JS.API.CONSUMER.LEADER.STEPDOWN.FAULTS.faults", b"", timeout=10
            )
            assert json.loads(reply.data).get("success"), reply.data
            # Deliveries resume: at once after a 409, or after two missed heartbeats when the
            # old leader's 409 never reached the client (seen on nats-server 2.15).
            count = len(handled)
            stalled = time.monotonic()
            await wait_until(lambda n=count: len(handled) > n, RECOVERY, "messages flowing")
            stalls.append(round(time.monotonic() - stalled, 1))
            assert stats.requests > requests, "the pull was not re-sent"
            assert await leader_of(nc, "FAULTS", "faults") != leader
        await publishing
        await wait_until(lambda: set(handled) >= set(ids), 60, "all handled")
    assert stats.leader_changes >= STEPDOWNS
    assert stats.missed_heartbeats == 0
    assert any("consumer leader changed" in r.getMessage() for r in caplog.records)
    account(
        "R3: consumer leader step-down x2",
        published,
        handled,
        await dlq_records(nc),
        started,
        expect_dead=set(),
        leaders=",".join(leaders),
        conflicts=stats.conflicts,
        leader_changes=stats.leader_changes,
        missed_heartbeats=stats.missed_heartbeats,
        stalls_s=",".join(map(str, stalls)),
        requests=stats.requests,
    )
    await nc.close()
