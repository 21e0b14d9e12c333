"""The event loop a worker process runs on: uvloop when installed (the ``fast`` extra).

uvloop cuts the per-message cost of the asyncio machinery (bench/ measures both).
``QX_EVENT_LOOP=asyncio`` keeps the standard loop even when uvloop is installed.
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Coroutine, Mapping
from typing import Any, TypeVar

from qx.exceptions import StartupError
from qx.worker._settings import WorkerSettings

T = TypeVar("T")

ENV_EVENT_LOOP = WorkerSettings.env_name("event_loop")


def event_loop_name(env: Mapping[str, str] | None = None) -> str:
    """``uvloop`` or ``asyncio``: what ``run_main`` will use. A bad ``QX_EVENT_LOOP`` raises
    ``StartupError``."""
    wanted = WorkerSettings.setting("event_loop", env)
    installed = importlib.util.find_spec("uvloop") is not None
    if wanted == "uvloop" and not installed:
        raise StartupError(
            f"{ENV_EVENT_LOOP}='uvloop' but uvloop is not installed: pip install 'qx-nats[fast]'"
        )
    if wanted == "asyncio" or not installed:
        return "asyncio"
    return "uvloop"


def run_main(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)``, on uvloop when it is installed (see the module docstring).

    A bad ``QX_EVENT_LOOP`` ends the process like any bad setting: one line, exit code 78.
    """
    try:
        name = event_loop_name()
    except StartupError as exc:
        main.close()  # never started: no "coroutine was never awaited" warning
        exc.exit()
    if name == "uvloop":
        import uvloop

        return uvloop.run(main)
    return asyncio.run(main)
