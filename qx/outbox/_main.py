"""Running the relay as a process: ``python -m <pkg>.relay`` and ``qxgen relay``.

Kept here so the generated ``relay.py`` is three lines and a fix reaches every service by
upgrading qx, as with ``qx.service.run_worker`` for workers.
"""

from __future__ import annotations

import asyncio
import logging
import signal

from pydantic import ValidationError

from qx.events import NatsSettings, create_nats_connection
from qx.exceptions import ConfigurationError
from qx.log import configure_logging
from qx.ops import configure_telemetry
from qx.outbox._database import create_engine
from qx.outbox._relay import Relay
from qx.outbox._settings import RelaySettings

log = logging.getLogger("qx.outbox.relay")


async def run_relay(
    settings: RelaySettings,
    *,
    nats: NatsSettings | None = None,
    service_name: str | None = None,
    name: str | None = None,
) -> None:
    """Relay until SIGTERM/SIGINT. Logging (``QX_LOG_*``) and telemetry (``OTEL_*``) are set
    up from the environment, as for workers."""
    if not settings.database_url:
        raise ConfigurationError(
            "no outbox database: set QX_OUTBOX_DATABASE_URL (qxgen relay: --database) to the "
            "service's database, e.g. sqlite:///shop.db or postgresql://user@host/shop"
        )
    engine = create_engine(settings.database_url)  # a bad URL fails before anything starts
    configure_logging()
    telemetry = configure_telemetry(service_name=service_name)
    try:
        nc = await create_nats_connection(nats or NatsSettings())
        relay = Relay(engine, nc, settings, name=name)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, relay.stop)
        log.info(
            "relay %s publishing the outbox of %s",
            relay.name,
            engine.url.render_as_string(hide_password=True),
        )
        try:
            await relay.run()
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
            await nc.drain()
            log.info("relay %s stopped (%d published)", relay.name, relay.stats.published)
    finally:
        await engine.dispose()
        telemetry.shutdown()


def relay_main(service_name: str | None = None) -> None:
    """Entry point of the generated ``relay.py``: settings from ``QX_OUTBOX_*`` and ``NATS_*``.

    A bad setting ends the process with one line naming the variable, not a traceback.
    """
    try:
        settings = RelaySettings()
        nats = NatsSettings()
    except ValidationError as exc:
        raise SystemExit(f"invalid relay settings: {describe_settings_error(exc)}") from None
    try:
        asyncio.run(run_relay(settings, nats=nats, service_name=service_name))
    except ConfigurationError as exc:
        raise SystemExit(f"relay: {exc}") from None


def describe_settings_error(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"])
        parts.append(f"QX_OUTBOX_{field.upper()}={err.get('input')!r}: {err['msg']}")
    return "; ".join(parts)
