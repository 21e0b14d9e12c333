"""A small credit window so the fetcher keeps the pipeline full without over-fetching.

asyncio.Semaphore cannot take "as many as are free" at once; this can, which lets one fetch
request refill the buffer instead of one request per finished message.
"""

from __future__ import annotations

import asyncio


class CreditWindow:
    def __init__(self, size: int) -> None:
        self.size = size
        self.free = size
        self._changed = asyncio.Event()
        self._closed = False

    def release(self, n: int = 1) -> None:
        self.free += n
        self._changed.set()

    def close(self) -> None:
        """Wake a waiting ``take`` so it returns 0."""
        self._closed = True
        self._changed.set()

    async def take(self, at_least: int, at_most: int) -> int:
        """Wait until ``at_least`` credits are free, then take up to ``at_most`` (0 if closed)."""
        while self.free < at_least and not self._closed:
            self._changed.clear()
            await self._changed.wait()
        if self._closed:
            return 0
        n = min(self.free, at_most)
        self.free -= n
        return n

    @property
    def outstanding(self) -> int:
        return self.size - self.free
