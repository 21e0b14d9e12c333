"""Every QX_* knob is read by its one declaration in WorkerSettings, whole or one at a time."""

from __future__ import annotations

import asyncio
import sys

import pytest

from qx.exceptions import EXIT_CONFIG, StartupError
from qx.worker import Supervisor, WorkerSettings, requested_processes


def test_one_setting_is_read_by_its_declaration() -> None:
    assert WorkerSettings.setting("processes", {}) == 1
    assert WorkerSettings.setting("processes", {"QX_PROCESSES": "3"}) == 3
    assert WorkerSettings.setting("probes_port", {"QX_PROBES_PORT": ""}) is None  # empty = unset
    assert WorkerSettings.setting("event_loop", {"QX_EVENT_LOOP": " AsyncIO "}) == "asyncio"
    assert WorkerSettings.setting("log_level", {"qx_log_level": "debug"}) == "DEBUG"


def test_a_bad_value_names_variable_value_and_rule() -> None:
    with pytest.raises(StartupError) as caught:
        WorkerSettings.setting("probes_stall_after", {"QX_PROBES_STALL_AFTER": "-1"})
    assert caught.value.code == EXIT_CONFIG
    assert caught.value.message == ("QX_PROBES_STALL_AFTER='-1': Input should be greater than 0")


def test_the_whole_model_and_one_setting_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QX_LOG_LEVEL", "warning")
    monkeypatch.setenv("QX_PROBES_PORT", "")
    monkeypatch.setenv("QX_PROCESSES", "2")
    settings = WorkerSettings()
    assert (settings.log_level, settings.probes_port, settings.processes) == ("WARNING", None, 2)
    assert WorkerSettings.setting("log_level") == settings.log_level
    assert requested_processes() == 2
    monkeypatch.setenv("QX_PROCESS_INDEX", "0")  # a child runs one worker itself
    assert requested_processes() == 1


def test_pull_knobs_are_checked_together() -> None:
    with pytest.raises(ValueError, match="at most half of pull_expires=10"):
        WorkerSettings(pull_expires=10, idle_heartbeat=6)
    assert WorkerSettings(pull_expires=10, idle_heartbeat=5).idle_heartbeat == 5


@pytest.mark.parametrize("code", [78, 69])
async def test_a_child_exiting_with_a_fatal_code_stops_the_group(code: int) -> None:
    """Child 0 cannot start (78: a setting, 69: no JetStream); child 1 runs. The group stops
    with child 0's code at once instead of restarting it with backoff forever."""
    script = (
        "import os, sys, time\n"
        f"sys.exit({code}) if os.environ['QX_PROCESS_INDEX'] == '0' else time.sleep(60)"
    )
    group = Supervisor(2, [sys.executable, "-c", script], restart_base=0.05)
    assert await asyncio.wait_for(group.run(), 30) == code
    assert group.restarts == 0
    assert all(proc.returncode is not None for proc in group.children.values())
