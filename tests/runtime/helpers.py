"""Small helpers shared by the real-server tests."""

from __future__ import annotations

import asyncio
import time

import nats.js.errors
from nats.aio.client import Client

from qx.dlq import DlqRecord, parse_record
from qx.events import IntegrationEvent, NatsPublisher, event_meta
from qx.transport import get_stored


async def publish(nc: Client, prefix: str, event: IntegrationEvent, **kwargs: str) -> str:
    """Publish through the real publisher onto ``<prefix>.<default subject>``; returns the id."""
    publisher = NatsPublisher(nc, source="tests")
    subject = f"{prefix}.{event_meta(type(event)).subject}"
    event_id = kwargs.pop("event_id", None)
    ack = await publisher.publish(event, subject=subject, event_id=event_id, **kwargs)
    assert ack.seq
    return event_id or ""


async def dlq_records(nc: Client, dlq_stream: str) -> list[DlqRecord]:
    js = nc.jetstream()
    info = await js.stream_info(dlq_stream)
    records = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        if info.state.messages == 0:
            break
        try:
            raw = await get_stored(nc, dlq_stream, seq)
        except nats.js.errors.NotFoundError:
            continue  # replayed or purged
        records.append(parse_record(seq, raw.headers, raw.data))
    return records


async def wait_for_dlq(
    nc: Client, dlq_stream: str, count: int = 1, timeout: float = 15.0
) -> list[DlqRecord]:
    """Poll the DLQ stream (which no test consumer reads) until ``count`` records are there."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            records = await dlq_records(nc, dlq_stream)
        except nats.js.errors.NotFoundError:
            records = []
        if len(records) >= count or time.monotonic() > deadline:
            return records
        await asyncio.sleep(0.1)
