"""A program written against qx-worker 1.x: its constructor forms and setting names.

Run unchanged; each 1.x spelling must work and emit one DeprecationWarning naming the new one.
Connection settings come from the 1.x ``QX_NATS__*`` variables set by the test.
"""

from __future__ import annotations

import asyncio
import signal
from typing import ClassVar

from qx.core import Result
from qx.cqrs import Mediator, integration_event_handler
from qx.events import (
    EventRegistry,
    IntegrationEvent,
    NatsConsumer,
    NatsSettings,
    create_nats_connection,
)
from qx.worker import WorkerRuntime


class UserRegistered(IntegrationEvent):
    __qx_type__: ClassVar[str] = "identity.user.registered"
    __qx_version__: ClassVar[int] = 1

    user_id: str
    email: str


@integration_event_handler(UserRegistered)
class OnUserRegistered:
    async def handle(self, event: UserRegistered) -> Result[None]:
        print(f"handled {event.user_id}", flush=True)
        return Result.success(None)


async def main() -> None:
    settings = NatsSettings(reconnect_time_wait_seconds=0.5, max_reconnect_attempts=-1)
    connection = await create_nats_connection(settings)
    registry = EventRegistry()
    registry.register(UserRegistered)
    consumer = NatsConsumer(
        connection,
        registry,
        stream="LEGACY",
        durable_name="legacy-worker",
        subject_filter="identity.>",
        batch_size=10,
        max_deliver=3,
        ack_wait_seconds=5,
    )
    worker = WorkerRuntime(
        consumer=consumer, registry=registry, mediator=Mediator([OnUserRegistered])
    )
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, lambda: asyncio.create_task(worker.stop()))
    await worker.run()
    await connection.close()


if __name__ == "__main__":
    asyncio.run(main())
    print("worker returned", flush=True)
