"""Opening a NATS connection configured for a long-running worker."""

from __future__ import annotations

import logging

from nats.aio.client import Client

from qx.events._settings import NatsSettings

log = logging.getLogger("qx.nats")


async def create_nats_connection(settings: NatsSettings | None = None) -> Client:
    """Connect with reconnect-forever and logging callbacks.

    nats-py's default gives up after 60 attempts and then the connection is closed for good;
    a worker would stop consuming without crashing. Reconnecting forever keeps it alive.
    """
    s = settings or NatsSettings()
    nc = Client()

    async def on_error(exc: Exception) -> None:
        log.warning("nats error: %s: %s", type(exc).__name__, exc)

    async def on_disconnected() -> None:
        if nc.is_closed or nc.is_draining:
            log.debug("nats disconnected (closing)")
        else:
            log.warning("nats disconnected; reconnecting")

    async def on_reconnected() -> None:
        log.info("nats reconnected")

    async def on_closed() -> None:
        log.info("nats connection closed")

    await nc.connect(
        servers=s.servers,
        name=s.name,
        user=s.user,
        password=s.password,
        token=s.token,
        user_credentials=s.creds_file,
        # nats-py annotates these as int but uses them as seconds in asyncio timeouts;
        # sub-second values are what tests and fast failover need.
        connect_timeout=s.connect_timeout,  # type: ignore[arg-type]
        reconnect_time_wait=s.reconnect_time_wait,  # type: ignore[arg-type]
        max_reconnect_attempts=s.max_reconnect_attempts,
        allow_reconnect=True,
        error_cb=on_error,
        disconnected_cb=on_disconnected,
        reconnected_cb=on_reconnected,
        closed_cb=on_closed,
    )
    return nc
