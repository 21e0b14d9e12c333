"""SIGTERM under load: in-flight handlers finish, nothing is acked unprocessed, nothing lost."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from nats.aio.client import Client

from qx.core import Result
from qx.cqrs import integration_event_handler
from qx.testing import WorkerHarness
from tests.runtime.conftest import Names, WorkerFactory
from tests.runtime.events import OrderPlaced
from tests.runtime.helpers import publish

pytestmark = [pytest.mark.nats, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
TOTAL = 300


def _lines(path: Path, kind: str) -> list[str]:
    if not path.exists():
        return []
    return [line.split()[1] for line in path.read_text().splitlines() if line.startswith(kind)]


async def test_sigterm_drains_in_flight_and_loses_nothing(
    make_worker: WorkerFactory, nc: Client, names: Names, nats_url: str, tmp_path: Path
) -> None:
    # The stream exists before the process starts, so everything is preloaded.
    await nc.jetstream().add_stream(name=names.stream, subjects=[f"{names.prefix}.>"])
    published = set()
    for i in range(TOTAL):
        await publish(nc, names.prefix, OrderPlaced(order_id=f"o{i}", total=i), event_id=f"o{i}")
        published.add(f"o{i}")

    log = tmp_path / "handled.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.runtime.worker_app", "--url", nats_url,
         "--stream", names.stream, "--subjects", f"{names.prefix}.>", "--log", str(log)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        # Wait (bounded) until the process is well into the backlog, then SIGTERM it.
        for _ in range(300):
            if len(_lines(log, "end")) >= 40:
                break
            await asyncio.sleep(0.05)
        assert len(_lines(log, "end")) >= 40, "worker process did not start handling"
        proc.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.to_thread(proc.communicate, timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr.decode()[-2000:]
    started, ended = _lines(log, "start"), _lines(log, "end")
    assert sorted(started) == sorted(ended), "a handler was cut off mid-flight"
    assert log.read_text().rstrip().endswith("exited")
    assert len(ended) < TOTAL, "SIGTERM came too late to test anything"

    # A fresh worker picks up exactly what the first did not finish.
    second: list[str] = []

    @integration_event_handler(OrderPlaced)
    class Rest:
        async def handle(self, event: OrderPlaced) -> Result[None]:
            second.append(event.order_id)
            return Result.success(None)

    worker = make_worker([Rest], consumer_overrides={"durable": "app", "ack_wait": 5})
    async with WorkerHarness(worker) as h:
        await h.wait_for(lambda s: len(set(second) | set(ended)) >= TOTAL, timeout=20)
    assert set(ended) | set(second) == published
    assert not set(ended) & set(second), "a message was handled twice after a graceful stop"
    # Exactly the rest, each once, all acked: nothing fetched by the first process was lost.
    assert len(h.settled) == TOTAL - len(ended)
    assert {s.decision for s in h.settled} == {"ack"}
