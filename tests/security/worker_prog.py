"""A worker process configured only through ``NATS_*`` (as in production).

Handles ``OrderPlaced``: ids starting with ``fail`` return a failed ``Result`` (so they
exhaust their deliveries and are dead-lettered), the others are appended to ``--log``.
Logs everything at DEBUG to stderr, so a test can search the whole output for secrets.
"""

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
    parser.add_argument("--stream", required=True)
    parser.add_argument("--durable", required=True)
    parser.add_argument("--subjects", required=True)
    parser.add_argument("--log", required=True, type=Path)
    parser.add_argument("--no-provision", action="store_true")
    parser.add_argument("--dlq-write-patience", type=float, default=60.0)
    args = parser.parse_args()
    out = args.log.open("a", buffering=1)

    @integration_event_handler(OrderPlaced)
    class Work:
        async def handle(self, event: OrderPlaced) -> Result[None]:
            if event.order_id.startswith("fail"):
                return Result.failure(f"refusing {event.order_id}")
            out.write(f"handled {event.order_id}\n")
            return Result.success(None)

    registry = EventRegistry()
    registry.register(OrderPlaced)
    worker = WorkerRuntime(
        consumer=NatsConsumer(
            NatsSettings(),
            ConsumerSettings(
                stream=args.stream,
                durable=args.durable,
                subjects=[args.subjects],
                ack_wait=5,
                max_deliver=2,
                provision=not args.no_provision,
                dlq_write_patience=args.dlq_write_patience,
            ),
        ),
        registry=registry,
        mediator=Mediator([Work]),
        concurrency=2,
        batch=8,
        fetch_timeout=0.3,
        retry=RetryPolicy(base_delay=0.05, max_delay=0.1),
        shutdown_timeout=5,
    )
    logging.basicConfig(level=logging.DEBUG)
    asyncio.run(serve(worker))
    out.write("exited\n")


if __name__ == "__main__":
    main()
