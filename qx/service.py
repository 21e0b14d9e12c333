"""Building and running a worker process from its parts.

Generated entrypoints (and ``make demo``, ``qxgen dev``, tests) all need the same wiring:
a dishka container with the user's providers plus every handler, a consumer configured from
``WorkerSettings``, logging with correlation ids, OpenTelemetry from ``OTEL_*``, opt-in probes,
and signal handling. Keeping it here keeps the generated ``worker.py`` a dozen readable lines
and lets a fix reach every service by upgrading qx instead of regenerating.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from dishka import Provider, make_async_container
from pydantic import ValidationError

from qx.cqrs import Mediator
from qx.di import handlers_provider
from qx.events import ConsumerSettings, EventRegistry, NatsConsumer, NatsSettings
from qx.exceptions import ConfigurationError
from qx.log import configure_logging
from qx.ops import configure_telemetry, start_probes_from_env
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

    Given a factory (the generated ``build``), settings errors such as ``QX_CONCURRENCY=abc``
    end the process with one line naming the variable instead of a traceback.
    """
    if (code := await supervise_from_env()) is not None:  # QX_PROCESSES > 1: supervise copies
        raise SystemExit(code)
    # Not callable(): asynccontextmanager objects are callable too (usable as decorators).
    if not isinstance(app, AbstractAsyncContextManager):
        try:
            app = app()
        except ValidationError as exc:
            raise SystemExit(f"invalid worker settings: {_describe_settings_error(exc)}") from None
    configure_logging()
    telemetry = configure_telemetry(service_name=service_name)
    try:
        async with app as worker:
            probes = await start_probes_from_env(worker)
            try:
                await serve(worker)
            finally:
                if probes is not None:
                    await probes.close()
    finally:
        telemetry.shutdown()


def _describe_settings_error(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"])
        value = err.get("input")
        parts.append(f"QX_{field.upper()}={value!r}: {err['msg']}")
    return "; ".join(parts)
