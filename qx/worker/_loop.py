"""The event loop a worker process runs on: uvloop when installed (the ``fast`` extra).

uvloop cuts the per-message cost of the asyncio machinery (bench/ measures both).
``QX_EVENT_LOOP=asyncio`` keeps the standard loop even when uvloop is installed.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import sys
from collections.abc import Coroutine, Mapping, Sequence
from typing import Any, TypeVar

from qx.exceptions import StartupError
from qx.worker._settings import WorkerSettings

T = TypeVar("T")

ENV_EVENT_LOOP = WorkerSettings.env_name("event_loop")
ENV_PROCESSES = WorkerSettings.env_name("processes")


def apply_command_line(argv: Sequence[str]) -> None:
    """``--processes N`` on a worker's command line is ``QX_PROCESSES=N`` (the flag wins).

    Passed on through the environment, the one place every setting is read from; the children
    the supervisor starts get the same command line and know they are children by their
    ``QX_PROCESS_INDEX``.
    """
    parser = argparse.ArgumentParser(
        description="Run the worker until SIGTERM/SIGINT, then drain. Every setting is a "
        "QX_*, NATS_* or OTEL_* environment variable (README: Configuration reference).",
    )
    parser.add_argument(
        "--processes",
        type=int,
        metavar="N",
        help=f"run N worker processes on the durable under a supervisor ({ENV_PROCESSES})",
    )
    args = parser.parse_args(list(argv))
    if args.processes is not None:
        os.environ[ENV_PROCESSES] = str(args.processes)


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
    The command line may carry ``--processes N`` (``apply_command_line``).
    """
    try:
        apply_command_line(sys.argv[1:])
    except SystemExit:  # --help, or a usage error argparse has already printed
        main.close()
        raise
    try:
        name = event_loop_name()
    except StartupError as exc:
        main.close()  # never started: no "coroutine was never awaited" warning
        exc.exit()
    if name == "uvloop":
        import uvloop

        return uvloop.run(main)
    return asyncio.run(main)
