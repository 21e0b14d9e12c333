"""The pull knobs: from the environment to the worker, with a clear error when they clash."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from qx.events import EventRegistry
from qx.service import worker_app
from qx.worker import WorkerSettings
from tests.runtime.events import OrderPlaced


def registry() -> EventRegistry:
    reg = EventRegistry()
    reg.register(OrderPlaced)
    return reg


async def test_env_reaches_the_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QX_PULL_EXPIRES", "12")
    monkeypatch.setenv("QX_IDLE_HEARTBEAT", "3")
    monkeypatch.setenv("QX_MAX_BYTES", "65536")
    settings = WorkerSettings(stream="S", durable="d")
    async with worker_app(settings=settings, registry=registry(), handlers=[]) as worker:
        assert (worker.pull_expires, worker.idle_heartbeat, worker.max_bytes) == (12, 3, 65536)


async def test_defaults_leave_the_heartbeat_to_the_consumer() -> None:
    settings = WorkerSettings(stream="S", durable="d")
    async with worker_app(settings=settings, registry=registry(), handlers=[]) as worker:
        assert (worker.pull_expires, worker.idle_heartbeat, worker.max_bytes) == (30, None, 0)


def test_heartbeat_longer_than_half_the_expiry_is_refused() -> None:
    with pytest.raises(ValidationError, match="at most half of pull_expires=10"):
        WorkerSettings(pull_expires=10, idle_heartbeat=6)
