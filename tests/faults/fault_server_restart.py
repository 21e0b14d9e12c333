"""The server SIGKILLed / SIGTERMed mid-stream and restarted on the same store, while a worker
process consumes and a publisher keeps publishing (retrying with the same Nats-Msg-Id)."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import pytest

from qx.embedded import EmbeddedNatsServer
from tests.faults.harness import (
    WorkerProcess,
    account,
    connect,
    dlq_records,
    handled_lines,
    provision_stream,
    publish_steadily,
    wait_until,
)

pytestmark = pytest.mark.nats

N = 4000
RATE = 1500.0  # msg/s offered; the measured un-acked window depends on it
SUBJECT = "faults.orders.order.placed.v1"


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
async def test_server_restart_on_the_same_store(
    server: EmbeddedNatsServer, tmp_path: Path, sig: signal.Signals
) -> None:
    started = time.monotonic()
    log = tmp_path / "handled.log"
    nc = await connect(server.url)
    await provision_stream(nc, "FAULTS", "faults.>")
    ids = [f"s-{i}" for i in range(N)]
    published: list[str] = []
    worker = WorkerProcess(server.url, "FAULTS", "faults.>", log)
    try:
        worker.start()
        publishing = asyncio.create_task(publish_steadily(nc, SUBJECT, ids, RATE, published))
        await wait_until(lambda: len(handled_lines(log)) >= N // 3, 60, "a third handled")
        await asyncio.to_thread(server.stop, sig)
        await asyncio.sleep(1.0)
        await asyncio.to_thread(server.start)
        await publishing
        await wait_until(lambda: set(handled_lines(log)) >= set(ids), 120, "all handled")
    finally:
        worker.stop()
    account(
        f"server {sig.name} + restart",
        published,
        handled_lines(log),
        await dlq_records(nc),
        started,
        expect_dead=set(),
        rate=RATE,
    )
    await nc.close()
