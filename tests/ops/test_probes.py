"""Probes and metrics over real HTTP for a worker running against a real nats-server."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from typing import Any

import pytest
from nats.aio.client import Client
from prometheus_client.parser import text_string_to_metric_families

from qx import ops
from qx.core import Result
from qx.cqrs import integration_event_handler
from qx.exceptions import StartupError
from qx.testing import WorkerHarness
from tests.ops.helpers import publish
from tests.runtime.conftest import Names, WorkerFactory
from tests.runtime.events import OrderPlaced

pytestmark = pytest.mark.nats


def _get(port: int, path: str, method: str = "GET") -> tuple[int, str, str]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method)
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:
            return resp.status, resp.headers["Content-Type"], resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.headers["Content-Type"], err.read().decode()


async def get(port: int, path: str, method: str = "GET") -> tuple[int, str, str]:
    return await asyncio.to_thread(_get, port, path, method)


def _ok_handler() -> type[Any]:
    @integration_event_handler(OrderPlaced)
    class Orders:
        async def handle(self, event: OrderPlaced) -> Result[None]:
            return Result.success(None)

    return Orders


async def test_healthz_and_readyz_follow_the_worker_lifecycle(make_worker: WorkerFactory) -> None:
    worker = make_worker([_ok_handler()])
    async with await ops.start_probes(worker, host="127.0.0.1") as probes:
        status, _, body = await get(probes.port, "/readyz")
        assert status == 503  # not started: not connected, no consumer bound
        assert json.loads(body)["status"] == "not ready"
        assert (await get(probes.port, "/healthz"))[0] == 200  # starting is not wedged

        async with WorkerHarness(worker):
            status, ctype, body = await get(probes.port, "/readyz")
            assert (status, ctype) == (200, "application/json")
            assert json.loads(body) == {"status": "ready", "running": True, "consumer_ready": True}
            status, _, body = await get(probes.port, "/healthz")
            assert status == 200
            assert json.loads(body)["status"] == "ok"
            assert (await get(probes.port, "/healthz", "HEAD"))[0] == 200

        status, _, body = await get(probes.port, "/readyz")
        assert status == 503
        assert json.loads(body)["running"] is False
        assert (await get(probes.port, "/nope"))[0] == 404
        assert (await get(probes.port, "/healthz", "POST"))[0] == 405


async def test_healthz_fails_while_the_loop_is_stalled_and_recovers(
    make_worker: WorkerFactory, nc: Client, names: Names
) -> None:
    release = asyncio.Event()
    started = asyncio.Event()

    @integration_event_handler(OrderPlaced)
    class Stuck:
        async def handle(self, event: OrderPlaced) -> Result[None]:
            started.set()
            await release.wait()
            return Result.success(None)

    # concurrency=1, batch=1: one message in the handler and one buffered fill the credit
    # window, so the fetch loop waits for capacity and reports no progress.
    worker = make_worker([Stuck], concurrency=1, batch=1)
    async with (
        await ops.start_probes(worker, host="127.0.0.1", stall_after=0.3) as probes,
        WorkerHarness(worker) as h,
    ):
        await publish(nc, names, OrderPlaced(order_id="a", total=1))
        await publish(nc, names, OrderPlaced(order_id="b", total=1))
        await started.wait()
        body = await _poll_until(probes.port, "/healthz", 503)
        assert body["status"] == "stalled"
        assert body["in_flight"] == 1
        assert (await get(probes.port, "/readyz"))[0] == 200  # stalled is not "not ready"
        release.set()
        await h.wait_settled(2)
        assert (await get(probes.port, "/healthz"))[0] == 200


async def _poll_until(port: int, path: str, want: int) -> dict[str, Any]:
    """Probe until it answers ``want`` (the probe is the thing under test; bounded)."""
    async with asyncio.timeout(10):
        while True:
            status, _, body = await get(port, path)
            if status == want:
                return dict(json.loads(body))
            await asyncio.sleep(0.05)


def _counter(text: str, name: str, prefix: str) -> float:
    """Sum of ``name`` over the series whose subject belongs to this test."""
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            subject = sample.labels.get("messaging_destination_name", "")
            if sample.name == name and subject.startswith(prefix + "."):
                total += sample.value
    return total


async def test_metrics_count_what_happened(
    make_worker: WorkerFactory, nc: Client, names: Names
) -> None:
    ops.configure_telemetry(prometheus=True)  # after qx.worker created its instruments

    @integration_event_handler(OrderPlaced)
    class Orders:
        async def handle(self, event: OrderPlaced) -> Result[None]:
            if event.order_id == "bad":
                raise RuntimeError("always fails")
            return Result.success(None)

    worker = make_worker([Orders])  # max_deliver=3: nak, nak, dead-letter
    async with (
        await ops.start_probes(worker, host="127.0.0.1") as probes,
        WorkerHarness(worker) as h,
    ):
        for order_id in ("a", "b", "bad", "c"):
            await publish(nc, names, OrderPlaced(order_id=order_id, total=1))
        await h.wait_settled(4)
        status, ctype, text = await get(probes.port, "/metrics")

    assert status == 200
    assert ctype.startswith("text/plain")
    assert _counter(text, "qx_messages_processed_total", names.prefix) == 3
    assert _counter(text, "qx_messages_failed_total", names.prefix) == 2
    assert _counter(text, "qx_messages_dead_lettered_total", names.prefix) == 1
    assert "qx_message_duration_seconds_bucket" in text


async def test_probes_are_opt_in_by_env(
    make_worker: WorkerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker = make_worker([_ok_handler()])
    monkeypatch.delenv("QX_PROBES_PORT", raising=False)
    assert await ops.start_probes_from_env(worker) is None

    monkeypatch.setenv("QX_PROBES_PORT", "0")
    monkeypatch.setenv("QX_PROBES_HOST", "127.0.0.1")
    monkeypatch.setenv("QX_PROBES_STALL_AFTER", "5")
    probes = await ops.start_probes_from_env(worker)
    assert probes is not None
    async with probes:
        assert probes.stall_after == 5.0
        assert (await get(probes.port, "/healthz"))[0] == 200

    monkeypatch.setenv("QX_PROBES_PORT", "eighty")
    with pytest.raises(StartupError, match="QX_PROBES_PORT='eighty': Input should be a valid"):
        await ops.start_probes_from_env(worker)


async def test_port_in_use_is_a_clear_error(make_worker: WorkerFactory) -> None:
    worker = make_worker([_ok_handler()])
    async with await ops.start_probes(worker, host="127.0.0.1") as probes:
        with pytest.raises(ops.OpsError, match=f"cannot serve probes on 127.0.0.1:{probes.port}"):
            await ops.start_probes(worker, probes.port, host="127.0.0.1")
