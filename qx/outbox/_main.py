"""Running the relay as a process: ``python -m <pkg>.relay`` and ``qxgen relay``.

Kept here so the generated ``relay.py`` is three lines and a fix reaches every service by
upgrading qx, as with ``qx.service.run_worker`` for workers. The relay starts and fails like a
worker: NATS settings from ``NATS_*``, the first connection retried until a server answers, and
an unusable setting ends the process with one line and the worker's exit codes.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable

from nats.aio.client import Client
from nats.errors import NoRespondersError
from nats.js.errors import ServiceUnavailableError
from pydantic import ValidationError

from qx.exceptions import (
    ConfigurationError,
    JetStreamUnavailableError,
    MissingDependencyError,
    QxError,
    TelemetryConfigError,
)
from qx.log import configure_logging
from qx.ops import configure_telemetry
from qx.outbox._database import create_engine
from qx.outbox._relay import Relay
from qx.outbox._settings import RelaySettings
from qx.service import EXIT_CONFIG, EXIT_UNAVAILABLE, StartupError, describe_settings_error
from qx.transport import NatsSettings, connect_when_reachable, jetstream_advertised

log = logging.getLogger("qx.outbox.relay")

_SIGNALS = (signal.SIGTERM, signal.SIGINT)


async def run_relay(
    settings: RelaySettings,
    *,
    nats: NatsSettings | None = None,
    service_name: str | None = None,
    name: str | None = None,
) -> None:
    """Relay until SIGTERM/SIGINT. Logging (``QX_LOG_*``) and telemetry (``OTEL_*``) are set
    up from the environment, as for workers. A NATS server that is not up yet is waited for
    (a signal meanwhile stops the wait); a refused login raises ``ConfigurationError``."""
    if not settings.database_url:
        raise ConfigurationError(
            "no outbox database: set QX_OUTBOX_DATABASE_URL (qxgen relay: --database) to the "
            "service's database, e.g. sqlite:///shop.db or postgresql://user@host/shop"
        )
    engine = create_engine(settings.database_url)  # a bad URL fails before anything starts
    configure_logging()
    telemetry = configure_telemetry(service_name=service_name)
    stopping = asyncio.Event()
    relay: Relay | None = None

    def on_signal() -> None:
        stopping.set()
        if relay is not None:
            relay.stop()

    loop = asyncio.get_running_loop()
    for sig in _SIGNALS:
        loop.add_signal_handler(sig, on_signal)
    try:
        nc = await _connect_unless_stopped(nats or NatsSettings(), stopping)
        if nc is None:
            log.info("relay stopped before NATS was reachable (nothing published)")
            return
        await _require_jetstream(nc, nats or NatsSettings())
        relay = Relay(engine, nc, settings, name=name)
        if stopping.is_set():
            relay.stop()
        log.info(
            "relay %s publishing the outbox of %s",
            relay.name,
            engine.url.render_as_string(hide_password=True),
        )
        try:
            await relay.run()
        finally:
            await nc.drain()
            log.info("relay %s stopped (%d published)", relay.name, relay.stats.published)
    finally:
        for sig in _SIGNALS:
            loop.remove_signal_handler(sig)
        await engine.dispose()
        telemetry.shutdown()


async def _require_jetstream(nc: Client, s: NatsSettings) -> None:
    """A server without JetStream ends the relay (exit 69) instead of leaving every row pending
    with the same error forever. The server's INFO says so; a JetStream request confirms it, as
    another server of a mixed cluster may still serve JetStream. When that request cannot tell
    (a permission, a timeout), the relay runs and each row's ``last_error`` says what failed."""
    if jetstream_advertised(nc) is not False:
        return
    try:
        await nc.jetstream().account_info()
    except (ServiceUnavailableError, NoRespondersError):
        await nc.close()
        raise JetStreamUnavailableError(s.display_url) from None
    except Exception as exc:  # undecided: let publishing report it row by row
        log.debug("JetStream check inconclusive (%s: %s)", type(exc).__name__, exc)


async def _connect_unless_stopped(nats: NatsSettings, stopping: asyncio.Event) -> Client | None:
    connect = asyncio.ensure_future(connect_when_reachable(nats))
    stop = asyncio.ensure_future(stopping.wait())
    try:
        await asyncio.wait({connect, stop}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.cancel()
        if not connect.done():
            connect.cancel()
            await asyncio.gather(connect, return_exceptions=True)
    return None if connect.cancelled() else connect.result()


def relay_process(
    settings: Callable[[], RelaySettings],
    nats: Callable[[], NatsSettings] = NatsSettings,
    *,
    service_name: str | None = None,
    name: str | None = None,
) -> None:
    """Build the settings and relay; the body of ``relay_main`` and ``qxgen relay``.

    Fails like a worker (``qx.service.run_worker``): one line on stderr, no traceback, exit
    code ``EXIT_CONFIG`` (78) for a setting that restarting will not fix (a bad
    ``QX_OUTBOX_*``/``NATS_*`` value, no database, a refused login) and ``EXIT_UNAVAILABLE``
    (69) when the database cannot be used or the server runs without JetStream.
    """
    try:
        try:
            relay_settings, nats_settings = settings(), nats()
        except ValidationError as exc:
            raise StartupError(describe_settings_error(exc), EXIT_CONFIG) from None
        try:
            asyncio.run(
                run_relay(relay_settings, nats=nats_settings, service_name=service_name, name=name)
            )
        except (ConfigurationError, TelemetryConfigError, MissingDependencyError) as exc:
            raise StartupError(f"relay cannot start: {exc}", EXIT_CONFIG) from None
        except (QxError, OSError) as exc:
            raise StartupError(f"relay failed: {exc}", EXIT_UNAVAILABLE) from None
    except StartupError as exc:
        exc.exit()


def relay_main(service_name: str | None = None) -> None:
    """Entry point of the generated ``relay.py``: settings from ``QX_OUTBOX_*`` and ``NATS_*``."""
    relay_process(RelaySettings, service_name=service_name)
