"""QX_PROCESSES=N: N processes drain one durable; a killed child is restarted; nothing lost."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import nats
import pytest

from qx.embedded import free_port
from qx.events import NatsPublisher, event_meta
from qx.exceptions import ConfigurationError
from qx.worker import requested_processes
from tests.runtime.conftest import Names
from tests.runtime.events import OrderPlaced

pytestmark = [pytest.mark.nats, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
TOTAL = 600
CONCURRENCY, BATCH = 4, 16


def _handled(log: Path) -> list[tuple[str, int]]:
    if not log.exists():
        return []
    rows = []
    for line in log.read_text().splitlines():
        order_id, _, pid = line.partition(" ")
        if pid.isdigit():
            rows.append((order_id, int(pid)))
    return rows


async def _until(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def test_two_processes_share_a_durable_survive_a_kill_and_lose_nothing(
    fresh_nats_url: str, names: Names, tmp_path: Path
) -> None:
    nats_url = fresh_nats_url  # the worker uses the event's own subject: a server of its own
    subject = event_meta(OrderPlaced).subject
    async with await nats.connect(nats_url) as nc:
        await nc.jetstream().add_stream(name=names.stream, subjects=[subject])
    log = tmp_path / "handled.log"
    errors = tmp_path / "stderr.log"
    probes = free_port()
    env = {
        **os.environ,
        "QX_PROCESSES": "2",
        "QX_STREAM": names.stream,
        "QX_DURABLE": names.durable,
        "QX_CONCURRENCY": str(CONCURRENCY),
        "QX_BATCH": str(BATCH),
        "QX_ACK_WAIT": "2",
        "QX_PROBES_PORT": str(probes),
        "QX_PROBES_HOST": "127.0.0.1",
        "NATS_URL": nats_url,
        "QX_TEST_LOG": str(log),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.runtime.process_app"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=errors.open("wb"),
        start_new_session=True,  # so cleanup can reach the children too
    )  # fmt: skip
    try:
        # The group is ready once both children consume; only then is the work published, so
        # both take part however long the children took to start.
        assert await _probe(probes, "/readyz") == 200, errors.read_text()[-2000:]
        async with await nats.connect(nats_url) as nc:
            publisher = NatsPublisher(nc, source="tests")
            for i in range(TOTAL):
                await publisher.publish(OrderPlaced(order_id=f"o{i}", total=i), event_id=f"o{i}")
        await _until(lambda: len({pid for _, pid in _handled(log)}) >= 2, 30, "two children")
        assert proc.pid not in {pid for _, pid in _handled(log)}  # the supervisor handles none
        victim = _handled(log)[-1][1]
        os.kill(victim, signal.SIGKILL)
        # The supervisor starts a replacement (a third child), and the backlog is finished.
        started = Path(f"{log}.started")
        await _until(lambda: len(started.read_text().split()) >= 3, 30, "a restarted child")
        await _until(lambda: len({o for o, _ in _handled(log)}) >= TOTAL, 60, "every event")
        proc.send_signal(signal.SIGTERM)
        await asyncio.to_thread(proc.wait, timeout=30)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # only does anything if the test failed
    stderr = errors.read_bytes()
    assert proc.returncode == 0, stderr.decode()[-2000:]
    counts = Counter(o for o, _ in _handled(log))
    assert set(counts) == {f"o{i}" for i in range(TOTAL)}  # nothing lost
    # At-least-once: only what the killed child held (handled, ack not yet sent) comes again.
    duplicates = [o for o, n in counts.items() if n > 1]
    assert len(duplicates) <= CONCURRENCY + BATCH, duplicates
    assert b"exited unexpectedly with -9; restarting" in stderr


async def _probe(port: int, path: str) -> int:
    status = 0
    for _ in range(600):  # up to a minute: two Python processes start on a busy machine
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(f"GET {path} HTTP/1.1\r\n\r\n".encode())
            await writer.drain()
            status = int((await reader.readline()).split()[1])
            writer.close()
            if status == 200:
                return status
        except (OSError, IndexError):
            pass
        await asyncio.sleep(0.1)
    return status


def test_processes_setting_is_checked() -> None:
    assert requested_processes({}) == 1
    assert requested_processes({"QX_PROCESSES": "4"}) == 4
    assert requested_processes({"QX_PROCESSES": "4", "QX_PROCESS_INDEX": "0"}) == 1
    with pytest.raises(ConfigurationError, match="QX_PROCESSES='two'"):
        requested_processes({"QX_PROCESSES": "two"})
    with pytest.raises(ConfigurationError):
        requested_processes({"QX_PROCESSES": "0"})


async def test_supervisor_restarts_crashing_children_and_stops_cleanly() -> None:
    """No server: children that crash at once are restarted with backoff; a stop that finds
    a child still starting (killed by SIGTERM before it had handlers) is a clean stop."""
    from qx.worker import Supervisor

    crash = Supervisor(1, [sys.executable, "-c", "raise SystemExit(3)"], restart_base=0.05)
    running = asyncio.create_task(crash.run())
    await _until(lambda: crash.restarts >= 2, 20, "two restarts")
    crash.stop()
    await asyncio.wait_for(running, 20)  # returns, whether a child was starting or in backoff

    sleepers = Supervisor(2, [sys.executable, "-c", "import time; time.sleep(60)"])
    running = asyncio.create_task(sleepers.run())
    await _until(lambda: len(sleepers.children) == 2, 20, "two children")
    sleepers.stop()
    assert await asyncio.wait_for(running, 20) == 0
