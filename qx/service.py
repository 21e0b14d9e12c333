"""Building and running a worker process from its parts.

Generated entrypoints (and ``make demo``, ``qxgen dev``, tests) all need the same wiring:
a dishka container with the user's providers plus every handler, a consumer configured from
``WorkerSettings``, logging with correlation ids, OpenTelemetry from ``OTEL_*``, opt-in probes,
and signal handling. Keeping it here keeps the generated ``worker.py`` a dozen readable lines
and lets a fix reach every service by upgrading qx instead of regenerating.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from dishka import Provider, make_async_container
from nats.errors import NoRespondersError
from nats.js.errors import ServiceUnavailableError
from pydantic import ValidationError

from qx.cqrs import Mediator
from qx.di import handlers_provider
from qx.events import EventRegistry
from qx.exceptions import (
    EXIT_CONFIG,
    EXIT_UNAVAILABLE,
    ConfigurationError,
    JetStreamUnavailableError,
    MissingDependencyError,
    OpsError,
    StartupError,
    TelemetryConfigError,
)
from qx.log import configure_logging
from qx.ops import configure_telemetry, start_probes_from_env
from qx.redact import redact_url
from qx.transport import ConsumerSettings, NatsConsumer, NatsSettings
from qx.worker import (
    WorkerRuntime,
    WorkerSettings,
    describe_settings_error,
    load_settings,
    serve,
    supervise_from_env,
)

__all__ = [
    "EXIT_CONFIG",
    "EXIT_UNAVAILABLE",
    "StartupError",
    "describe_settings_error",
    "run_worker",
    "serve_app",
    "worker_app",
]


@asynccontextmanager
async def worker_app(
    *,
    settings: WorkerSettings,
    registry: EventRegistry,
    handlers: Sequence[type[Any]],
    providers: Sequence[Provider] = (),
    nats: NatsSettings | None = None,
) -> AsyncIterator[WorkerRuntime]:
    """A ready-to-run ``WorkerRuntime``; the DI container is closed on exit."""
    if not settings.stream or not settings.durable:
        raise ConfigurationError(
            "no stream/durable configured: set QX_STREAM and QX_DURABLE, or `stream` and "
            "`durable` in [tool.qxgen] and regenerate"
        )
    mediator = Mediator(handlers)
    container = make_async_container(*providers, handlers_provider(mediator))
    consumer = NatsConsumer(
        nats or NatsSettings(),
        ConsumerSettings(
            stream=settings.stream,
            durable=settings.durable,
            subjects=registry.subjects,
            ack_wait=settings.ack_wait,
            max_deliver=settings.max_deliver,
            provision=settings.provision,
            dlq_stream=settings.dlq_stream,
            dlq_replicas=settings.dlq_replicas,
        ),
    )
    worker = WorkerRuntime(
        container=container,
        consumer=consumer,
        registry=registry,
        mediator=mediator,
        concurrency=settings.concurrency,
        batch=settings.batch,
        fetch_timeout=settings.fetch_timeout,
        retry=settings.retry_policy(),
        handler_timeout=settings.handler_timeout,
        shutdown_timeout=settings.shutdown_timeout,
        pull_expires=settings.pull_expires,
        idle_heartbeat=settings.idle_heartbeat or None,
        max_bytes=settings.max_bytes,
    )
    try:
        yield worker
    finally:
        await container.close()


AppFactory = Callable[[], AbstractAsyncContextManager[WorkerRuntime]]


async def run_worker(
    app: AbstractAsyncContextManager[WorkerRuntime] | AppFactory,
    *,
    service_name: str | None = None,
) -> None:
    """Run until SIGTERM/SIGINT, then drain. Logging (``QX_LOG_*``), telemetry (``OTEL_*``)
    and probes (``QX_PROBES_PORT``) are set up from the environment.

    A setting the worker cannot use (``QX_CONCURRENCY=abc``, ``NATS_CONNECT_TIMEOUT=abc``,
    ``QX_STREAM=bad.name``, ``OTEL_TRACES_EXPORTER=bogus``, a probes port in use...) ends the
    process with one line on stderr naming the variable, its value and what is accepted, and
    exit code ``EXIT_CONFIG`` (78); a server without JetStream with ``EXIT_UNAVAILABLE`` (69).
    No traceback: there is nothing in qx's stack a reader could act on.

    With ``QX_PROCESSES`` > 1 every ``QX_*`` and ``NATS_*`` value is checked here, before any
    child is started, and a child that still exits with 78 or 69 stops the group with that code.
    """
    try:
        common = load_settings(WorkerSettings)
        if common.processes > 1 and common.process_index is None:
            configure_logging(common.log_level, common.log_format)
            if not isinstance(app, AbstractAsyncContextManager):
                load_settings(app)  # the service's own Settings (its [tool.qxgen] defaults)
            _nats_settings()
            raise SystemExit(await supervise_from_env(common))
        await serve_app(app, service_name=service_name)
    except StartupError as exc:
        exc.exit()


async def serve_app(
    app: AbstractAsyncContextManager[WorkerRuntime] | AppFactory,
    *,
    service_name: str | None = None,
    keep_telemetry: bool = False,
) -> None:
    """``run_worker`` for a host that reports errors itself (``qxgen dev``): a worker that
    cannot start raises ``StartupError`` instead of ending the process.

    ``keep_telemetry``: the host starts workers again in this process, so spans and metrics
    are flushed at the end, not shut down (OpenTelemetry providers cannot be installed twice);
    the host calls ``qx.ops.shutdown_telemetry()`` when it is done."""
    common = load_settings(WorkerSettings)  # QX_LOG_* and every other QX_* before anything starts
    configure_logging(common.log_level, common.log_format)
    # Not callable(): asynccontextmanager objects are callable too (usable as decorators).
    if not isinstance(app, AbstractAsyncContextManager):
        app = load_settings(app)
    try:
        telemetry = configure_telemetry(service_name=service_name)
    except (TelemetryConfigError, MissingDependencyError) as exc:
        raise StartupError(str(exc), EXIT_CONFIG) from None
    try:
        async with _entered(app) as worker:
            try:
                probes = await start_probes_from_env(worker, common)
            except OpsError as exc:
                raise StartupError(str(exc), EXIT_CONFIG) from None
            try:
                await serve(worker)
            except (ServiceUnavailableError, NoRespondersError):
                off = JetStreamUnavailableError(_url())
                raise StartupError(str(off), EXIT_UNAVAILABLE) from None
            finally:
                if probes is not None:
                    await probes.close()
    except StartupError:
        raise
    except ConfigurationError as exc:  # a refused login, bad TLS files...: one line, no trace
        raise StartupError(f"worker cannot start: {exc}", EXIT_CONFIG) from None
    finally:
        if keep_telemetry:
            telemetry.flush()
        else:
            telemetry.shutdown()


def _nats_settings() -> NatsSettings:
    """``NATS_*`` checked the way the worker will read them."""
    try:
        return load_settings(NatsSettings)
    except StartupError:
        raise
    except ConfigurationError as exc:
        raise StartupError(f"worker cannot start: {exc}", EXIT_CONFIG) from None


@asynccontextmanager
async def _entered(
    app: AbstractAsyncContextManager[WorkerRuntime],
) -> AsyncIterator[WorkerRuntime]:
    """``app`` entered, with its settings errors (NATS_*, stream names) as ``StartupError``."""
    try:
        worker = await app.__aenter__()
    except ValidationError as exc:
        raise StartupError(describe_settings_error(exc), EXIT_CONFIG) from None
    except ConfigurationError as exc:
        raise StartupError(str(exc), EXIT_CONFIG) from None
    try:
        yield worker
    except BaseException as exc:
        if not await app.__aexit__(type(exc), exc, exc.__traceback__):
            raise
    else:
        await app.__aexit__(None, None, None)


def _url() -> str:
    """The server's URL for a message: credentials in it are masked."""
    return redact_url(os.environ.get("NATS_URL") or NatsSettings.model_fields["url"].get_default())
