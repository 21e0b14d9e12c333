"""A worker process for the SIGTERM test: logs start/end of each handler to a file."""

from __future__ import annotations

import argparse
import asyncio
import logging
from pathlib import Path

from qx.core import Result
from qx.cqrs import Mediator, integration_event_handler
from qx.events import ConsumerSettings, EventRegistry, NatsConsumer, NatsSettings
from qx.worker import RetryPolicy, WorkerRuntime, serve
from tests.runtime.events import OrderPlaced


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--stream", required=True)
    parser.add_argument("--subjects", required=True)
    parser.add_argument("--log", required=True, type=Path)
    parser.add_argument("--work", type=float, default=0.05)
    args = parser.parse_args()
    log = args.log.open("a", buffering=1)

    @integration_event_handler(OrderPlaced)
    class Work:
        async def handle(self, event: OrderPlaced) -> Result[None]:
            log.write(f"start {event.order_id}\n")
            await asyncio.sleep(args.work)
            log.write(f"end {event.order_id}\n")
            return Result.success(None)

    registry = EventRegistry()
    registry.register(OrderPlaced)
    worker = WorkerRuntime(
        consumer=NatsConsumer(
            NatsSettings(url=args.url),
            ConsumerSettings(
                stream=args.stream, durable="app", subjects=[args.subjects], ack_wait=5
            ),
        ),
        registry=registry,
        mediator=Mediator([Work]),
        concurrency=4,
        batch=16,
        fetch_timeout=0.5,
        retry=RetryPolicy(base_delay=0.1),
        shutdown_timeout=10,
    )
    logging.basicConfig(level=logging.INFO)
    asyncio.run(serve(worker))
    log.write("exited\n")


if __name__ == "__main__":
    main()
