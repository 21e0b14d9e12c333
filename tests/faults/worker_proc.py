"""The worker the fault scenarios start, SIGKILL and restart: a real ``WorkerRuntime`` process.

Each handled event id is appended to ``--log`` with one ``write(2)`` (O_APPEND) *before* the
handler returns, so a SIGKILL between the write and the ack shows up as a duplicate, never as
a loss. Ids starting with ``fail-`` raise every time, so they exhaust ``max_deliver`` and go to
the DLQ through the runtime's retry path.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os

from qx.core import Result
from qx.cqrs import Mediator, integration_event_handler
from qx.events import ConsumerSettings, EventRegistry, NatsConsumer, NatsSettings
from qx.worker import RetryPolicy, WorkerRuntime, serve
from tests.runtime.events import ORDER_SCHEMA, OrderPlaced


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--stream", required=True)
    parser.add_argument("--subjects", required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--ack-wait", type=float, default=2.0)
    parser.add_argument("--max-deliver", type=int, default=3)
    parser.add_argument("--work", type=float, default=0.0)
    args = parser.parse_args()
    fd = os.open(args.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    @integration_event_handler(OrderPlaced)
    class Work:
        async def handle(self, event: OrderPlaced) -> Result[None]:
            if event.order_id.startswith("fail-"):
                raise RuntimeError(f"cannot handle {event.order_id}")
            if args.work:
                await asyncio.sleep(args.work)
            os.write(fd, f"{event.order_id}\n".encode())
            return Result.success(None)

    registry = EventRegistry()
    registry.register(OrderPlaced, schema=ORDER_SCHEMA)
    worker = WorkerRuntime(
        consumer=NatsConsumer(
            NatsSettings(url=args.url, reconnect_time_wait=0.25, connect_timeout=2.0),
            ConsumerSettings(
                stream=args.stream,
                durable="faults",
                subjects=[args.subjects],
                ack_wait=args.ack_wait,
                max_deliver=args.max_deliver,
            ),
        ),
        registry=registry,
        mediator=Mediator([Work]),
        concurrency=8,
        batch=32,
        fetch_timeout=0.5,
        retry=RetryPolicy(base_delay=0.1, factor=2.0, max_delay=1.0),
        shutdown_timeout=10,
    )
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    asyncio.run(serve(worker))


if __name__ == "__main__":
    main()
