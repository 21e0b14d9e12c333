"""What ``qxgen dev`` and ``qxgen demo`` share: an embedded server that is never started twice
on the same store, and one readable line per settled message.

A server outlives its owner when the owner is killed (SIGKILL, a closed terminal): nats-server
is a separate process. The next run finds it through the pid file in the store and stops it
before starting a new one, because two servers cannot share a JetStream store and a server
nobody owns would keep running after this run ends.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from qx.embedded import EmbeddedNatsServer
from qx.worker import Settled, WorkerRuntime


def process_command(pid: int) -> str | None:
    """The command line of ``pid``, or None if it is gone or a zombie (exited, not reaped)."""
    try:
        out = subprocess.run(
            # -ww: never cut the command line to the terminal width (COLUMNS); the store path
            # at its end is what identifies the server.
            ["ps", "-ww", "-o", "stat=", "-o", "command=", "-p", str(pid)],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return _proc_cmdline(pid)
    if not out or out.startswith("Z"):
        return None
    return out.split(maxsplit=1)[1] if " " in out else ""


def _proc_cmdline(pid: int) -> str | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return raw.replace(b"\0", b" ").decode("utf-8", "replace").strip() or None


def stale_server_pid(server: EmbeddedNatsServer) -> int | None:
    """The pid of a nats-server an earlier run left on ``server``'s store, if one is alive.

    The pid file alone is not proof: after a reboot the pid may belong to another program,
    which must not be signalled. Only a nats-server started on this very store counts.
    """
    pid = server.running_pid()
    if pid is None or pid == os.getpid():
        return None
    command = process_command(pid)
    if command is None or "nats-server" not in command:
        return None
    return pid if str(server.store_dir / "jetstream") in command else None


def stop_stale_server(pid: int, timeout: float = 10.0) -> None:
    """SIGTERM (nats-server flushes its store), SIGKILL if it does not exit in ``timeout``."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if process_command(pid) is None:
                return
            time.sleep(0.05)
    raise RuntimeError(f"nats-server pid {pid} did not exit after SIGKILL; stop it by hand")


@asynccontextmanager
async def listening(
    app: AbstractAsyncContextManager[WorkerRuntime], listener: Callable[[Settled], None]
) -> AsyncIterator[WorkerRuntime]:
    """``app`` with ``listener`` attached to the worker it yields."""
    async with app as worker:
        worker.add_listener(listener)
        yield worker


def event_label(settled: Settled) -> str:
    version = settled.subject.rsplit(".v", 1)[-1] if ".v" in settled.subject else "?"
    return f"{settled.event_type or settled.subject} v{version}"


def settlement_line(settled: Settled) -> str:
    """One rich-markup line: what happened to a message and why."""
    what = escape(event_label(settled))
    delivery = f"delivery {settled.delivery}"
    if settled.decision == "ack":
        return f"  [green]✓[/] {what} handled ({delivery})"
    error = escape(settled.error or "")
    if settled.decision == "nak":
        return (
            f"  [yellow]↻[/] {what} failed ({delivery}): {error} "
            f"[yellow]→ retry in {settled.delay or 0:.2f}s[/]"
        )
    written = "" if settled.dead_letter_written else " (DLQ write failed; will retry)"
    return (
        f"  [red]✗[/] {what} dead-lettered ({delivery}): "
        f"{escape(settled.reason or '')}: {error}{written}"
    )


def print_settlements(console: Console) -> Callable[[Settled], None]:
    def listener(settled: Settled) -> None:
        console.print(settlement_line(settled))

    return listener
