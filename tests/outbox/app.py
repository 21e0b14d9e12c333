"""The service used by the inbox and crash tests: a payment handler that is idempotent.

Run as a process (``python -m tests.outbox.app worker|relay ...``) so the crash tests can
SIGKILL it at an exact point: after the inbox commit (before the ack), or after the relay's
PubAcks (before the rows are marked sent).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import nats
from sqlalchemy import text

from qx.core import Result
from qx.cqrs import Mediator, integration_event_handler
from qx.events import ConsumerSettings, EventRegistry, NatsConsumer, NatsSettings
from qx.outbox import Outbox, Relay, RelaySettings, Transaction, idempotent
from qx.outbox._outbox import Executor
from qx.worker import RetryPolicy, WorkerRuntime, serve
from tests.outbox.events import OrderCreated, PaymentTaken

CREATE_PAYMENTS = "CREATE TABLE IF NOT EXISTS payments (order_id TEXT NOT NULL)"


async def create_payments(db: Executor) -> None:
    await db.execute(text(CREATE_PAYMENTS))


def make_handler(
    outbox: Outbox,
    runs: Path,
    *,
    payment_subject: str,
    after_commit: Callable[[str, str], None] | None = None,
    fail_first: bool = False,
) -> type[Any]:
    """``runs`` gets one line per time the handler body really ran."""
    failed: set[str] = set()

    @integration_event_handler(OrderCreated)
    class TakePayment:
        def __init__(self) -> None:
            self.outbox = outbox

        @idempotent("payments", after_commit=after_commit)
        async def handle(self, event: OrderCreated, tx: Transaction) -> Result[None]:
            with runs.open("a") as f:
                f.write(f"{event.order_id}\n")
            await tx.session.execute(
                text("INSERT INTO payments (order_id) VALUES (:o)"), {"o": event.order_id}
            )
            await tx.publish(
                PaymentTaken(order_id=event.order_id), key=event.order_id, subject=payment_subject
            )
            if fail_first and event.order_id not in failed:
                failed.add(event.order_id)
                return Result.failure("card declined, try again", code="card_declined")
            return Result.success(None)

    return TakePayment


def make_worker(
    nats_url: str,
    stream: str,
    prefix: str,
    handler: type[Any],
    *,
    ack_wait: float = 1.0,
    max_deliver: int = 10,
) -> WorkerRuntime:
    registry = EventRegistry()
    registry.register(OrderCreated)
    return WorkerRuntime(
        consumer=NatsConsumer(
            NatsSettings(url=nats_url, reconnect_time_wait=0.2),
            ConsumerSettings(
                stream=stream,
                durable="payments",
                subjects=[f"{prefix}.shop.order.>"],
                stream_subjects=[f"{prefix}.>"],
                ack_wait=ack_wait,
                max_deliver=max_deliver,
                dlq_stream=f"{stream}_DLQ",
                dlq_subject_prefix=f"{prefix}dlq",
                advisory_stream=f"{stream}_ADV",
            ),
        ),
        registry=registry,
        mediator=Mediator([handler]),
        concurrency=4,
        batch=8,
        fetch_timeout=0.3,
        retry=RetryPolicy(base_delay=0.1, max_delay=0.5),
        shutdown_timeout=5,
    )


def _kill_once(marker: Path) -> None:
    """SIGKILL this process the first time only (the marker says it happened)."""
    if not marker.exists():
        marker.write_text(str(os.getpid()))
        os.kill(os.getpid(), signal.SIGKILL)


async def _worker(args: argparse.Namespace) -> None:
    outbox = Outbox.from_url(args.db, source="tests/payments")

    def after_commit(_consumer: str, _event_id: str) -> None:
        if args.kill_marker:
            _kill_once(Path(args.kill_marker))

    handler = make_handler(
        outbox,
        Path(args.runs),
        payment_subject=f"{args.prefix}.shop.payment.taken.v1",
        after_commit=after_commit,
    )
    await serve(
        make_worker(args.nats, args.stream, args.prefix, handler, max_deliver=args.max_deliver)
    )
    await outbox.close()


async def _relay(args: argparse.Namespace) -> None:
    outbox = Outbox.from_url(args.db, source="tests/payments")
    nc = await nats.connect(args.nats)

    def on_published(_ids: Sequence[str]) -> None:
        if args.kill_marker:
            _kill_once(Path(args.kill_marker))

    relay = Relay(
        outbox.engine,
        nc,
        RelaySettings(poll_interval=0.05, lease_ttl=1.0),
        name="crash-relay",
        on_published=on_published,
    )
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, relay.stop)
    await relay.run()
    await nc.close()
    await outbox.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=["worker", "relay"])
    parser.add_argument("--nats", required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--stream", default="")
    parser.add_argument("--prefix", default="")
    parser.add_argument("--runs", default=os.devnull)
    parser.add_argument("--kill-marker", default="")
    parser.add_argument("--max-deliver", type=int, default=10)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    asyncio.run(_worker(args) if args.role == "worker" else _relay(args))


if __name__ == "__main__":
    main()
