"""The event loop a worker process runs on: uvloop when installed (the ``fast`` extra).

uvloop cuts the per-message cost of the asyncio machinery (bench/ measures both).
``QX_EVENT_LOOP=asyncio`` keeps the standard loop even when uvloop is installed.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
from collections.abc import Coroutine
from typing import Any, TypeVar

from qx.exceptions import ConfigurationError

T = TypeVar("T")

ENV_EVENT_LOOP = "QX_EVENT_LOOP"


def event_loop_name(env: dict[str, str] | None = None) -> str:
    """``uvloop`` or ``asyncio``: what ``run_main`` will use."""
    wanted = (os.environ if env is None else env).get(ENV_EVENT_LOOP, "").strip().lower()
    if wanted not in ("", "auto", "asyncio", "uvloop"):
        raise ConfigurationError(
            f"{ENV_EVENT_LOOP}={wanted!r}: use auto (uvloop if installed), asyncio or uvloop"
        )
    installed = importlib.util.find_spec("uvloop") is not None
    if wanted == "uvloop" and not installed:
        raise ConfigurationError(
            f"{ENV_EVENT_LOOP}=uvloop but uvloop is not installed: pip install 'qx-nats[fast]'"
        )
    if wanted == "asyncio" or not installed:
        return "asyncio"
    return "uvloop"


def run_main(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)``, on uvloop when it is installed (see the module docstring)."""
    if event_loop_name() == "uvloop":
        import uvloop

        return uvloop.run(main)
    return asyncio.run(main)
