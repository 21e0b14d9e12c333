# The documented worker usage, exactly as issue 13 quotes it (the block down to
# `await worker.run()`); below it, only the names it assumes are defined, and `main()` runs.
# ruff: noqa: E401, I001
# fmt: off
from qx.events import EventRegistry, NatsConsumer, NatsSettings, create_nats_connection
from qx.worker import WorkerRuntime
import asyncio, signal

async def main() -> None:
    nc = await create_nats_connection(settings.nats.url)
    consumer = NatsConsumer(nc, settings.nats)
    registry = EventRegistry()
    registry.register(UserRegisteredIntegration)
    worker = WorkerRuntime(
        container=container,
        consumer=consumer,
        registry=registry,
        mediator=mediator,
        concurrency=8,
    )
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, lambda: asyncio.create_task(worker.stop()))
    await worker.run()
# fmt: on


# -- the names the usage assumes -----------------------------------------------------------
from typing import ClassVar  # noqa: E402

from dishka import make_async_container  # noqa: E402
from pydantic import Field  # noqa: E402
from pydantic_settings import BaseSettings  # noqa: E402

from qx.core import Result  # noqa: E402
from qx.cqrs import Mediator, integration_event_handler  # noqa: E402
from qx.di import handlers_provider  # noqa: E402
from qx.events import IntegrationEvent  # noqa: E402


class UserRegisteredIntegration(IntegrationEvent):
    __qx_type__: ClassVar[str] = "identity.user.registered"
    __qx_version__: ClassVar[int] = 1

    user_id: str
    email: str


@integration_event_handler(UserRegisteredIntegration)
class OnUserRegistered:
    async def handle(self, event: UserRegisteredIntegration) -> Result[None]:
        print(f"handled {event.user_id}", flush=True)
        return Result.success(None)


class Settings(BaseSettings):
    """The service's settings; ``nats`` reads NATS_* (URL, credentials, NATS_NAME...)."""

    nats: NatsSettings = Field(default_factory=NatsSettings)


settings = Settings()
mediator = Mediator([OnUserRegistered])
container = make_async_container(handlers_provider(mediator))

if __name__ == "__main__":
    asyncio.run(main())
    print("worker returned", flush=True)
