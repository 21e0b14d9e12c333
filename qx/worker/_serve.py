"""Running a worker as a process: SIGTERM/SIGINT trigger a draining ``stop()``."""

from __future__ import annotations

import asyncio
import logging
import signal

from qx.worker._runtime import WorkerRuntime

log = logging.getLogger("qx.worker")


async def serve(worker: WorkerRuntime) -> None:
    """Run ``worker`` until SIGTERM or SIGINT, then drain and return."""
    loop = asyncio.get_running_loop()
    stopping: list[asyncio.Task[None]] = []

    def on_signal(sig: signal.Signals) -> None:
        if stopping:
            return
        log.info("%s received: draining", sig.name)
        stopping.append(loop.create_task(worker.stop()))

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal, sig)
    try:
        await worker.run()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        if stopping:
            await stopping[0]
