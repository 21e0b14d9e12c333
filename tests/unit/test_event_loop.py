"""Which event loop a worker process runs on."""

from __future__ import annotations

import asyncio
import importlib.util

import pytest

from qx.exceptions import ConfigurationError
from qx.worker import run_main
from qx.worker._loop import event_loop_name

HAS_UVLOOP = importlib.util.find_spec("uvloop") is not None


def test_default_is_uvloop_when_installed() -> None:
    assert event_loop_name({}) == ("uvloop" if HAS_UVLOOP else "asyncio")
    assert event_loop_name({"QX_EVENT_LOOP": "asyncio"}) == "asyncio"


def test_bad_value_is_named() -> None:
    with pytest.raises(ConfigurationError, match="QX_EVENT_LOOP='tokio'"):
        event_loop_name({"QX_EVENT_LOOP": "tokio"})


@pytest.mark.skipif(not HAS_UVLOOP, reason="needs the fast extra")
def test_run_main_runs_on_uvloop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QX_EVENT_LOOP", raising=False)

    async def loop_module() -> str:
        return type(asyncio.get_running_loop()).__module__

    assert run_main(loop_module()).startswith("uvloop")
    monkeypatch.setenv("QX_EVENT_LOOP", "asyncio")
    assert run_main(loop_module()).startswith("asyncio")
