"""Building and running a worker process from its parts.

Generated entrypoints (and ``make demo``, ``qxgen dev``, tests) all need the same wiring:
a dishka container with the user's providers plus every handler, a consumer configured from
``WorkerSettings``, logging with correlation ids, OpenTelemetry from ``OTEL_*``, opt-in probes,
and signal handling. Keeping it here keeps the generated ``worker.py`` a dozen readable lines
and lets a fix reach every service by upgrading qx instead of regenerating.
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, TypeVar

from dishka import Provider, make_async_container
from nats.errors import NoRespondersError
from nats.js.errors import ServiceUnavailableError
from pydantic import ValidationError

from qx.cqrs import Mediator
from qx.di import handlers_provider
from qx.events import ConsumerSettings, EventRegistry, NatsConsumer, NatsSettings
from qx.exceptions import (
    ConfigurationError,
    MissingDependencyError,
    OpsError,
    TelemetryConfigError,
)
from qx.log import configure_logging
from qx.ops import configure_telemetry, start_probes_from_env
from qx.redact import redact_url
from qx.worker import WorkerRuntime, WorkerSettings, serve, supervise_from_env


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
    )
    try:
        yield worker
    finally:
        await container.close()


AppFactory = Callable[[], AbstractAsyncContextManager[WorkerRuntime]]

#: Exit codes of a worker process (sysexits.h, which systemd and supervisors know).
EXIT_CONFIG = 78  # EX_CONFIG: a QX_*/NATS_*/OTEL_* value is invalid; restarting will not help
EXIT_UNAVAILABLE = 69  # EX_UNAVAILABLE: the server cannot serve the worker (JetStream is off)


class StartupError(SystemExit):
    """The worker cannot start; ``str()`` is the one line printed, ``code`` the exit code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(code)
        self.message = message


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
    """
    if (code := await supervise_from_env()) is not None:  # QX_PROCESSES > 1: supervise copies
        raise SystemExit(code)
    try:
        await _run(app, service_name)
    except StartupError as exc:
        print(f"error: {exc.message}", file=sys.stderr, flush=True)
        raise


async def _run(
    app: AbstractAsyncContextManager[WorkerRuntime] | AppFactory, service_name: str | None
) -> None:
    common = _settings(WorkerSettings)  # QX_LOG_* and every other QX_* before anything starts
    configure_logging(common.log_level, common.log_format)
    # Not callable(): asynccontextmanager objects are callable too (usable as decorators).
    if not isinstance(app, AbstractAsyncContextManager):
        app = _settings(app)
    try:
        telemetry = configure_telemetry(service_name=service_name)
    except (TelemetryConfigError, MissingDependencyError) as exc:
        raise StartupError(str(exc), EXIT_CONFIG) from None
    try:
        async with _entered(app) as worker:
            try:
                probes = await start_probes_from_env(worker)
            except OpsError as exc:
                raise StartupError(str(exc), EXIT_CONFIG) from None
            try:
                await serve(worker)
            except (ServiceUnavailableError, NoRespondersError):
                raise StartupError(
                    f"JetStream is not enabled on the NATS server at {_url()}; start "
                    "nats-server with -js (or a `jetstream {}` block in its config)",
                    EXIT_UNAVAILABLE,
                ) from None
            finally:
                if probes is not None:
                    await probes.close()
    except ConfigurationError as exc:  # a refused login, bad TLS files...: one line, no trace
        raise StartupError(f"worker cannot start: {exc}", EXIT_CONFIG) from None
    finally:
        telemetry.shutdown()


T = TypeVar("T")


def _settings(factory: Callable[[], T]) -> T:
    try:
        return factory()
    except ValidationError as exc:
        raise StartupError(describe_settings_error(exc), EXIT_CONFIG) from None


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


# Which environment prefix a pydantic model's fields are read from.
_PREFIX = {"NatsSettings": "NATS_", "ConsumerSettings": "QX_", "RelaySettings": "QX_OUTBOX_"}


def describe_settings_error(exc: ValidationError) -> str:
    """One line per bad value: ``QX_CONCURRENCY='abc': Input should be a valid integer``.

    A value that did not come from the environment (a default baked in from
    ``[tool.qxgen.worker]``, or passed in code) is named by its field instead of a variable
    nobody set.
    """
    prefix = _PREFIX.get(exc.title, "QX_")
    parts = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"])
        var = prefix + field.upper()
        value = err.get("input")
        raw = os.environ.get(var)
        if raw is not None:
            parts.append(f"{var}={raw!r}: {_accepted(err['msg'])}")
        else:
            parts.append(f"worker setting {field}={value!r} (not from {var}): {err['msg']}")
    return "; ".join(parts)


def _accepted(msg: str) -> str:
    return msg.removeprefix("Value error, ")


def _url() -> str:
    """The server's URL for a message: credentials in it are masked."""
    return redact_url(os.environ.get("NATS_URL") or NatsSettings.model_fields["url"].get_default())
