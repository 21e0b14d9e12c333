"""A generated-style worker for the QX_PROCESSES test: ``run_worker(build)``, settings from
the environment; each handled event is appended to QX_TEST_LOG as ``<order_id> <pid>``."""

from __future__ import annotations

import asyncio
import os
from contextlib import AbstractAsyncContextManager

from qx.core import Result
from qx.cqrs import integration_event_handler
from qx.events import EventRegistry
from qx.service import run_worker, worker_app
from qx.worker import WorkerRuntime, WorkerSettings
from tests.runtime.events import OrderPlaced

_log = open(os.environ["QX_TEST_LOG"], "a", buffering=1)  # noqa: SIM115 - process lifetime
if "QX_PROCESS_INDEX" in os.environ:  # a supervised child: say it started
    with open(os.environ["QX_TEST_LOG"] + ".started", "a") as started:
        started.write(f"{os.getpid()}\n")


@integration_event_handler(OrderPlaced)
class Record:
    async def handle(self, event: OrderPlaced) -> Result[None]:
        await asyncio.sleep(0.002)
        _log.write(f"{event.order_id} {os.getpid()}\n")
        return Result.success(None)


def build() -> AbstractAsyncContextManager[WorkerRuntime]:
    registry = EventRegistry()
    registry.register(OrderPlaced)
    return worker_app(settings=WorkerSettings(), registry=registry, handlers=[Record])


if __name__ == "__main__":
    asyncio.run(run_worker(build))
