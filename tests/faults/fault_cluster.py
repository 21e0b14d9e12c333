"""A 3-node cluster (three nats-server processes, routes on 127.0.0.1, R3 stream): the stream
leader and then the consumer leader SIGKILLed mid-stream; the node leading the DLQ stream down
while poison messages exhaust their deliveries."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path
from typing import Any

import nats.errors
import nats.js.errors
import pytest
from nats.aio.client import Client

from qx.events import ConsumerSettings
from tests.faults.harness import (
    Cluster,
    WorkerProcess,
    account,
    connect,
    dlq_records,
    handled_lines,
    provision_stream,
    publish_steadily,
    settled_api,
    wait_until,
)

pytestmark = pytest.mark.nats

SUBJECT = "faults.orders.order.placed.v1"
OUTAGE = 40.0  # seconds the DLQ leader's node stays down (the measured case)
SETTINGS = ConsumerSettings(stream="FAULTS", durable="faults", subjects=["faults.>"])


async def leader_of(nc: Client, stream: str, durable: str | None = None) -> str:
    """The current leader's server name, retried through elections."""
    js = nc.jetstream()
    deadline = time.monotonic() + 30
    while True:
        try:
            info: Any = (
                await js.consumer_info(stream, durable) if durable else await js.stream_info(stream)
            )
            if info.cluster and info.cluster.leader:
                return str(info.cluster.leader)
        except (nats.js.errors.APIError, nats.errors.TimeoutError):
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"no leader for {stream} {durable or ''}")
        await asyncio.sleep(0.2)


async def replicas_of(nc: Client, stream: str, durable: str | None = None) -> int:
    """Replicas of a stream or consumer; 0 while the cluster cannot say (a replica change in
    progress reports no cluster info for a moment, and the API may time out meanwhile)."""
    js = nc.jetstream()
    try:
        info: Any = (
            await js.consumer_info(stream, durable) if durable else await js.stream_info(stream)
        )
    except (nats.js.errors.APIError, nats.errors.TimeoutError):
        return 0
    if info.cluster is None:
        return 0
    return 1 + len(info.cluster.replicas or [])


async def crash(cluster: Cluster, name: str, down_for: float) -> None:
    node = cluster.node(name)
    await asyncio.to_thread(node.stop, signal.SIGKILL)
    await asyncio.sleep(down_for)
    await asyncio.to_thread(node.start)


async def test_stream_leader_then_consumer_leader_sigkill(cluster: Cluster, tmp_path: Path) -> None:
    started = time.monotonic()
    n, rate = 3000, 400.0
    log = tmp_path / "handled.log"
    nc = await connect(cluster.url)
    await provision_stream(nc, "FAULTS", "faults.>", replicas=3)
    ids = [f"c-{i}" for i in range(n)]
    published: list[str] = []
    worker = WorkerProcess(cluster.url, "FAULTS", "faults.>", log)
    try:
        worker.start()
        publishing = asyncio.create_task(publish_steadily(nc, SUBJECT, ids, rate, published))
        await wait_until(lambda: len(handled_lines(log)) >= n // 4, 60, "a quarter handled")
        stream_leader = await leader_of(nc, "FAULTS")
        await crash(cluster, stream_leader, 2.0)
        await wait_until(lambda: len(handled_lines(log)) >= 2 * n // 3, 90, "two thirds handled")
        consumer_leader = await leader_of(nc, "FAULTS", "faults")
        await crash(cluster, consumer_leader, 2.0)
        await publishing
        await wait_until(lambda: set(handled_lines(log)) >= set(ids), 120, "all handled")
    finally:
        worker.stop()
    account(
        "R3: stream, then consumer leader KILL",
        published,
        handled_lines(log),
        await dlq_records(nc),
        started,
        expect_dead=set(),
        killed=f"{stream_leader},{consumer_leader}",
    )
    await nc.close()


async def test_dlq_leader_down_while_poison_exhausts(cluster: Cluster, tmp_path: Path) -> None:
    """Was: QX_DLQ and QX_DLQ_ADVISORIES were R1; with their node down 24 of 60 went unrecorded."""
    started = time.monotonic()
    log = tmp_path / "handled.log"
    nc = await connect(cluster.url)
    await provision_stream(nc, "FAULTS", "faults.>", replicas=3)

    async def dlq_parts_r3() -> bool:
        return (
            await replicas_of(nc, SETTINGS.dlq_stream),
            await replicas_of(nc, SETTINGS.advisory_stream),
            await replicas_of(nc, SETTINGS.advisory_stream, SETTINGS.advisory_durable),
        ) == (3, 3, 3)

    await wait_until(dlq_parts_r3, 30, "DLQ, advisory stream and consumer provisioned at R3")
    poison = [f"fail-{i}" for i in range(60)]
    valid = [f"d-{i}" for i in range(300)]
    mixed = [x for pair in zip(valid[:60], poison, strict=True) for x in pair] + valid[60:]
    published: list[str] = []
    dlq_leader = await leader_of(nc, SETTINGS.dlq_stream)
    worker = WorkerProcess(cluster.url, "FAULTS", "faults.>", log)
    try:
        await asyncio.to_thread(cluster.node(dlq_leader).stop, signal.SIGKILL)
        down_at = time.monotonic()
        worker.start()
        await publish_steadily(nc, SUBJECT, mixed, 100.0, published)
        await asyncio.sleep(max(0.0, OUTAGE - (time.monotonic() - down_at)))
        await asyncio.to_thread(cluster.node(dlq_leader).start)

        async def all_recorded() -> bool:
            return len({r.stream_seq for r in await dlq_records(nc)}) >= len(poison)

        await wait_until(all_recorded, 120, "60 DLQ records", interval=0.5)
        await wait_until(lambda: set(handled_lines(log)) >= set(valid), 60, "valid handled")
    finally:
        worker.stop()
    records = await dlq_records(nc)
    account(
        f"R3: DLQ leader down {OUTAGE:.0f} s, 60 poison",
        published,
        handled_lines(log),
        records,
        started,
        expect_dead=set(poison),
        killed=dlq_leader,
        origins="/".join(sorted({r.origin for r in records})),
    )
    await nc.close()


async def test_an_r1_dlq_is_raised_with_its_source_stream(cluster: Cluster) -> None:
    """Upgrading: a DLQ provisioned next to an R1 source is raised to R3 (advisory consumer
    included) once the source is R3 and a worker provisions again."""
    nc = await connect(cluster.url)
    js = nc.jetstream()
    await provision_stream(nc, "FAULTS", "faults.>", replicas=1)
    parts = (SETTINGS.dlq_stream, SETTINGS.advisory_stream)

    async def replicas() -> tuple[int, int, int]:
        return (
            await replicas_of(nc, parts[0]),
            await replicas_of(nc, parts[1]),
            await replicas_of(nc, parts[1], SETTINGS.advisory_durable),
        )

    async def r1() -> bool:
        return await replicas() == (1, 1, 1)

    await wait_until(r1, 30, "DLQ, advisory stream and consumer at R1")
    info = await settled_api(lambda: js.stream_info("FAULTS"), "FAULTS info")
    info.config.num_replicas = 3
    await settled_api(lambda: js.update_stream(info.config), "FAULTS to R3")
    await provision_stream(nc, "FAULTS", "faults.>", replicas=1)  # a worker starting again

    async def raised() -> bool:
        return await replicas() == (3, 3, 3)

    await wait_until(raised, 30, "DLQ, advisory stream and consumer at R3")
    await nc.close()
