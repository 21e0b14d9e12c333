"""End to end against a real nats-server: generate from the repository's schemas, run the
generated worker entrypoint as a subprocess, publish one event of each type, see every handler
invoked (and the one left unimplemented dead-lettered), then SIGTERM for a clean exit."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from qx.embedded import EmbeddedNatsServer
from qx.events import NatsPublisher, NatsSettings, create_nats_connection
from qxgen import load_config, plan, write
from tests.generator.conftest import REPO

pytestmark = pytest.mark.nats

# Every generated stub but this one is replaced by a handler recording what it saw.
LEFT_AS_STUB = "payment_failed_v1"

RECORDING_HANDLER = '''"""Records the event it handled (written by the end-to-end test)."""

import json
import os

from qx.core import Result
from qx.cqrs import integration_event_handler

from ..integration.events import {cls}


@integration_event_handler({cls})
class {cls}Handler:
    async def handle(self, event: {cls}) -> Result[None]:
        with open(os.environ["E2E_SEEN"], "a", encoding="utf-8") as seen:
            seen.write(json.dumps([event.__qx_type__, event.__qx_version__]) + "\\n")
        return Result.success(None)
'''


def _examples() -> list[dict[str, Any]]:
    found = []
    for path in sorted((REPO / "schemas").rglob("*.json")):
        schema = json.loads(path.read_text())
        if "x-qx-event" in schema:
            found.append({**schema["x-qx-event"], "example": schema["examples"][0]})
    return found


def _generate_service(root: Path) -> Path:
    config = load_config(root, schemas=REPO / "schemas", package="e2e_shop", out=root / "src")
    write(plan(config), config.out)
    handlers = config.package_dir / "handlers"
    for stub in handlers.glob("*_v*.py"):
        if stub.stem != LEFT_AS_STUB:
            cls = next(
                line.split("import ")[1].strip()
                for line in stub.read_text().splitlines()
                if line.startswith("from ..integration.events import")
            )
            stub.write_text(RECORDING_HANDLER.format(cls=cls))
    return config.out


async def _wait_for_stream(url: str, stream: str, timeout: float) -> None:
    nc = await create_nats_connection(NatsSettings(url=url))
    try:
        js = nc.jetstream()
        deadline = time.monotonic() + timeout
        while True:
            try:
                await js.stream_info(stream)
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)
    finally:
        await nc.close()


async def _publish_all(url: str, src: Path) -> None:
    sys.path.insert(0, str(src))
    try:
        from e2e_shop.integration.registry import EVENTS  # type: ignore[import-not-found]

        classes = {(c.__qx_type__, c.__qx_version__): c for c, _ in EVENTS}
        nc = await create_nats_connection(NatsSettings(url=url))
        try:
            publisher = NatsPublisher(nc, source="e2e-test")
            for item in _examples():
                cls = classes[(item["type"], item["version"])]
                await publisher.publish(cls.model_validate(item["example"]))
        finally:
            await nc.close()
    finally:
        sys.path.remove(str(src))


async def _dead_letters(url: str) -> list[str]:
    nc = await create_nats_connection(NatsSettings(url=url))
    try:
        js = nc.jetstream()
        info = await js.stream_info("QX_DLQ")
        bodies = []
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            msg = await js.get_msg("QX_DLQ", seq)
            # The record keeps the payload intact; reason and error travel in headers.
            bodies.append(json.dumps(dict(msg.headers or {})))
        return bodies
    finally:
        await nc.close()


def test_generated_worker_runs_every_handler_and_stops_on_sigterm(tmp_path: Path) -> None:
    src = _generate_service(tmp_path / "service")
    server = EmbeddedNatsServer(tmp_path / "nats")
    server.start()
    seen_file = tmp_path / "seen.jsonl"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(src), str(REPO)]),
        "NATS_URL": server.url,
        "QX_STREAM": "E2E_SHOP",
        "QX_DURABLE": "e2e_shop",
        "QX_BACKOFF_BASE": "0.1",
        "E2E_SEEN": str(seen_file),
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "e2e_shop.worker"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        asyncio.run(_wait_for_stream(server.url, "E2E_SHOP", timeout=30))
        asyncio.run(_publish_all(server.url, src))
        expected = {
            (e["type"], e["version"])
            for e in _examples()
            if not (e["type"] == "payments.payment.failed" and e["version"] == 1)
        }
        deadline = time.monotonic() + 30
        seen: set[tuple[str, int]] = set()
        while time.monotonic() < deadline and seen != expected:
            if seen_file.exists():
                lines = seen_file.read_text().splitlines()
                seen = {(t, v) for t, v in map(json.loads, lines)}
            time.sleep(0.2)
        assert seen == expected

        # The stub left unimplemented failed non-retryably: straight to the DLQ.
        deadline = time.monotonic() + 30
        letters: list[str] = []
        while time.monotonic() < deadline and not letters:
            try:
                letters = asyncio.run(_dead_letters(server.url))
            except Exception:
                time.sleep(0.3)
        assert any("not implemented yet" in body for body in letters), letters

        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=30)
        assert worker.returncode == 0, output.decode("utf-8", "replace")
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
        server.stop()
