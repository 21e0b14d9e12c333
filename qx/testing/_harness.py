"""Run a worker in the background of a test and wait for real conditions, not sleeps."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import TracebackType

from qx.worker import Settled, WorkerRuntime


class WorkerHarness:
    """``async with WorkerHarness(worker) as h: ...; await h.wait_settled(3)``.

    Records every settlement (ack, nak, dead-letter) and lets a test wait until a condition
    over them holds. Leaving the block stops the worker with a full drain.
    """

    def __init__(self, worker: WorkerRuntime) -> None:
        self.worker = worker
        self.settled: list[Settled] = []
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        worker.add_listener(self._record)

    def _record(self, settled: Settled) -> None:
        self.settled.append(settled)
        self._changed.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self.worker.run(), name="qx-test-worker")
        running = asyncio.create_task(self.worker.wait_running())
        await asyncio.wait([self._task, running], return_when=asyncio.FIRST_COMPLETED)
        if not running.done():
            running.cancel()
            self._task.result()  # run() ended before it was running: raise what it raised
            raise RuntimeError("worker stopped before it started consuming")

    async def wait_for(
        self, predicate: Callable[[list[Settled]], bool], timeout: float = 10.0
    ) -> list[Settled]:
        """Wait until ``predicate(settled)`` is true; fail with what was seen on timeout."""

        async def until() -> None:
            while not predicate(self.settled):
                if self._task is not None and self._task.done():
                    self._task.result()
                    raise AssertionError("worker stopped before the condition held")
                self._changed.clear()
                await self._changed.wait()

        try:
            await asyncio.wait_for(until(), timeout)
        except TimeoutError:
            summary = [(s.subject, s.delivery, s.decision, s.reason) for s in self.settled]
            raise AssertionError(
                f"condition not met within {timeout}s; settled: {summary}"
            ) from None
        return self.settled

    async def wait_settled(self, count: int, timeout: float = 10.0) -> list[Settled]:
        """Wait until ``count`` messages reached a final state (acked or dead-lettered)."""
        return await self.wait_for(lambda s: len(final(s)) >= count, timeout)

    async def stop(self) -> None:
        await self.worker.stop()
        if self._task is not None:
            await self._task

    async def __aenter__(self) -> WorkerHarness:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


def final(settled: list[Settled]) -> list[Settled]:
    return [s for s in settled if s.decision == "ack" or s.dead_letter_written]
