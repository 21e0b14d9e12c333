"""Reading back what the relay published."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from nats.aio.client import Client


@dataclass
class Stored:
    seq: int
    subject: str
    headers: dict[str, str]
    data: dict[str, object]


async def stream_messages(nc: Client, stream: str) -> list[Stored]:
    js = nc.jetstream()
    info = await js.stream_info(stream)
    out = []
    if info.state.messages == 0:
        return out
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        raw = await js.get_msg(stream, seq)
        out.append(Stored(seq, raw.subject, dict(raw.headers or {}), json.loads(raw.data or b"")))
    return out


async def wait_until(
    check: Callable[[], Awaitable[bool]], timeout: float = 20.0, what: str = "condition"
) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.05)
