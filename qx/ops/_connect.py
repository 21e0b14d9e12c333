"""A short-lived NATS connection for one-shot ops commands.

Workers reconnect forever (``qx.events.create_nats_connection``); an operator's command must
instead fail within seconds with a message that names the URL. nats-py retries the initial
connect ``max_reconnect_attempts`` times per server, and 0 means "forever", so 1 is the smallest
finite value.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import nats
import nats.errors
from nats.aio.client import Client

from qx.exceptions import NatsUnavailableError


async def _quiet(exc: Exception) -> None:
    # nats-py's default error callback logs a traceback; the caller reports the failure itself.
    return None


async def connect(url: str, *, timeout: float = 3.0) -> Client:
    """Connect or raise ``NatsUnavailableError`` within about ``timeout`` seconds."""
    servers = [s.strip() for s in url.split(",") if s.strip()]
    try:
        async with asyncio.timeout(timeout):
            return await nats.connect(
                servers=servers,
                connect_timeout=min(timeout, 2.0),
                max_reconnect_attempts=1,
                reconnect_time_wait=0.1,
                error_cb=_quiet,
                name="qx-ops",
            )
    except (TimeoutError, OSError, nats.errors.Error) as exc:
        reason = str(exc) or type(exc).__name__
        raise NatsUnavailableError(
            f"cannot reach NATS at {url} ({reason}); start the server or pass --url / set NATS_URL"
        ) from None


@asynccontextmanager
async def connection(url: str, *, timeout: float = 3.0) -> AsyncIterator[Client]:
    nc = await connect(url, timeout=timeout)
    try:
        yield nc
    finally:
        if not nc.is_closed:
            await nc.close()
