"""The documented usage and a qx-worker 1.x program run unchanged against a real server:
events published, handled, SIGTERM, exit 0 (issue 13)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nats
import pytest

from qx.embedded import EmbeddedNatsServer
from qx.events import NatsPublisher
from tests.compat.canonical_prog import UserRegisteredIntegration

pytestmark = [pytest.mark.nats, pytest.mark.timeout(90)]

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def start(program: str, env: dict[str, str], out: Path) -> subprocess.Popen[bytes]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("NATS_", "QX_"))}
    with out.open("wb") as sink:
        return subprocess.Popen(
            [sys.executable, str(HERE / program)],
            env={**clean, "PYTHONPATH": str(ROOT), **env},
            cwd=ROOT,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )


def read(path: Path) -> str:
    return path.read_text(errors="replace")


async def publish_and_stop(
    url: str, stream: str, durable: str, proc: subprocess.Popen[bytes], out: Path
) -> str:
    """Wait for the consumer, publish 3 events, wait until all are handled, SIGTERM."""
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        deadline = time.monotonic() + 30
        while True:
            try:
                await js.consumer_info(stream, durable)
                break
            except Exception:
                assert proc.poll() is None, read(out)
                assert time.monotonic() < deadline, read(out)
                await asyncio.sleep(0.1)
        publisher = NatsPublisher(nc, source="tests")
        for i in range(3):
            await publisher.publish(
                UserRegisteredIntegration(user_id=f"u{i}", email=f"u{i}@example.test")
            )
        while read(out).count("handled u") < 3:
            assert proc.poll() is None, read(out)
            assert time.monotonic() < deadline, read(out)
            await asyncio.sleep(0.1)
    finally:
        await nc.close()
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    return read(out)


async def test_the_documented_program_runs_as_written(tmp_path: Path) -> None:
    """``settings.nats`` names only the service (NATS_NAME): stream and durable default from
    it, the subjects from the registered events."""
    with EmbeddedNatsServer(tmp_path / "nats") as server:
        out = tmp_path / "out.txt"
        proc = start("canonical_prog.py", {"NATS_URL": server.url, "NATS_NAME": "users"}, out)
        text = await publish_and_stop(server.url, "USERS", "users", proc, out)
    assert proc.returncode == 0, text
    assert sorted(line for line in text.splitlines() if line.startswith("handled")) == [
        "handled u0",
        "handled u1",
        "handled u2",
    ]
    assert text.rstrip().endswith("worker returned"), text
    assert "Traceback" not in text
    assert "Warning" not in text  # nothing deprecated in the documented usage


async def test_the_documented_program_with_explicit_consumer_settings(tmp_path: Path) -> None:
    with EmbeddedNatsServer(tmp_path / "nats") as server:
        out = tmp_path / "out.txt"
        env = {
            "NATS_URL": server.url,
            "QX_STREAM": "IDENTITY",
            "QX_DURABLE": "welcome-mailer",
            "QX_SUBJECTS": "identity.>",
        }
        proc = start("canonical_prog.py", env, out)
        text = await publish_and_stop(server.url, "IDENTITY", "welcome-mailer", proc, out)
    assert proc.returncode == 0, text
    assert text.count("handled u") == 3


async def test_a_qx_worker_1x_program_runs_with_one_warning_per_old_name(tmp_path: Path) -> None:
    with EmbeddedNatsServer(tmp_path / "nats") as server:
        out = tmp_path / "out.txt"
        env = {
            "QX_NATS__SERVERS": f'["{server.url}"]',
            "QX_NATS__NAME": "legacy",
            "QX_NATS__CONNECT_TIMEOUT_SECONDS": "2",
            "PYTHONWARNINGS": "always::DeprecationWarning",
        }
        proc = start("legacy_prog.py", env, out)
        text = await publish_and_stop(server.url, "LEGACY", "legacy-worker", proc, out)
    assert proc.returncode == 0, text
    assert text.count("handled u") == 3
    expected = {
        "QX_NATS__SERVERS": "NATS_URL",
        "QX_NATS__NAME": "NATS_NAME",
        "QX_NATS__CONNECT_TIMEOUT_SECONDS": "NATS_CONNECT_TIMEOUT",
        "NatsSettings(reconnect_time_wait_seconds=...)": "NatsSettings(reconnect_time_wait=...)",
        "NatsConsumer(durable_name=...)": "NatsConsumer(durable=...)",
        "NatsConsumer(subject_filter=...)": "NatsConsumer(subjects=...)",
        "NatsConsumer(ack_wait_seconds=...)": "NatsConsumer(ack_wait=...)",
        "NatsConsumer(batch_size=...)": "WorkerRuntime(batch=...)",
        "NatsConsumer(connection, registry, ...)": "WorkerRuntime(registry=...)",
    }
    warnings = [line for line in text.splitlines() if "DeprecationWarning" in line]
    for old, new in expected.items():
        matching = [w for w in warnings if old in w]
        assert len(matching) == 1, (old, warnings)
        assert new in matching[0]
    assert len(warnings) == len(expected), warnings
