"""A worker process SIGKILLed mid-run; a new one finishes the stream."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from qx.embedded import EmbeddedNatsServer
from qx.events import NatsPublisher
from tests.faults.harness import (
    WorkerProcess,
    account,
    connect,
    dlq_records,
    handled_lines,
    provision_stream,
    publish_until_acked,
    wait_until,
)

pytestmark = pytest.mark.nats

N = 3000
SUBJECT = "faults.orders.order.placed.v1"


async def test_worker_sigkill_mid_run(server: EmbeddedNatsServer, tmp_path: Path) -> None:
    started = time.monotonic()
    log = tmp_path / "handled.log"
    nc = await connect(server.url)
    await provision_stream(nc, "FAULTS", "faults.>")
    publisher = NatsPublisher(nc, source="faults")
    ids = [f"w-{i}" for i in range(N)]
    for order_id in ids:
        await publish_until_acked(publisher, SUBJECT, order_id)
    worker = WorkerProcess(server.url, "FAULTS", "faults.>", log, work=0.002)
    try:
        worker.start()
        await wait_until(lambda: len(handled_lines(log)) >= N // 3, 60, "a third handled")
        worker.stop(signal.SIGKILL)
        at_kill = len(handled_lines(log))
        worker.start()
        await wait_until(lambda: set(handled_lines(log)) >= set(ids), 90, "all handled")
    finally:
        worker.stop()
    account(
        "worker SIGKILL mid-run",
        ids,
        handled_lines(log),
        await dlq_records(nc),
        started,
        expect_dead=set(),
        handled_at_kill=at_kill,
    )
    await nc.close()
