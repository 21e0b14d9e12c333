"""Writing DLQ records: from the worker on the final delivery, and from max-deliveries
advisories when the worker could not (it crashed, hung, or the DLQ write itself failed).

Order matters for "nothing lost": the record is written and its PubAck awaited *before* the
original is terminated. If the write fails the original is nak'd instead; when its deliveries
run out the server emits an advisory, captured in its own stream, and ``AdvisoryProcessor``
rebuilds the record from the source stream (facts §2).
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import RetentionPolicy

from qx import dlq
from qx.events._publisher import check_size, publish_with_retry
from qx.events._settings import ConsumerSettings
from qx.exceptions import PayloadTooLargeError

log = logging.getLogger("qx.dlq")


Connection = Callable[[], Client]


class DeadLetterWriter:
    """``connection`` is a getter: the consumer may rebuild its connection after an outage."""

    def __init__(self, connection: Connection, settings: ConsumerSettings) -> None:
        self._connection = connection
        self._settings = settings

    async def write(
        self,
        *,
        subject: str,
        headers: Mapping[str, str] | None,
        body: bytes,
        stream: str,
        seq: int,
        attempts: int,
        reason: str,
        error_type: str,
        error_message: str,
        origin: str,
        trace_id: str | None = None,
    ) -> None:
        """Publish the record and wait for its PubAck; raises if it could not be stored."""
        record_headers = dlq.build_record_headers(
            headers,
            subject=subject,
            stream=stream,
            seq=seq,
            consumer=self._settings.durable,
            attempts=attempts,
            reason=reason,
            error_type=error_type,
            error_message=error_message,
            origin=origin,
            trace_id=trace_id,
        )
        try:
            check_size(self._connection(), self._settings.dlq_subject, body, record_headers)
        except PayloadTooLargeError:
            # The original fit, but with our headers it would not: keep the reference; the
            # payload stays readable in the source stream at (stream, seq) until its max_age.
            record_headers[dlq.H_PAYLOAD_OMITTED] = f"too large; read {stream} seq {seq}"
            body = b""
        await publish_with_retry(
            self._connection(),
            self._settings.dlq_subject,
            body,
            record_headers,
            attempts=2,
            timeout=2.0,
        )

    async def terminate(self, msg: Msg, reason: str) -> None:
        """``+TERM <reason>``: nats-py's term() cannot send a reason (facts §3)."""
        assert msg.reply
        await self._connection().publish(
            msg.reply, b"+TERM " + " ".join(reason.split())[:200].encode()
        )


class AdvisoryProcessor:
    """Turns a max-deliveries advisory for our consumer into a DLQ record."""

    def __init__(self, connection: Connection, writer: DeadLetterWriter) -> None:
        self._connection = connection
        self._writer = writer
        self._retention: dict[str, RetentionPolicy | None] = {}

    async def handle(self, advisory: Msg) -> None:
        """Store the record; raises if it could not be stored (the caller naks the advisory)."""
        try:
            doc = json.loads(advisory.data)
            stream = str(doc["stream"])
            seq = int(doc["stream_seq"])
            deliveries = int(doc.get("deliveries", 0))
        except (ValueError, KeyError, TypeError):
            log.error("unreadable max-deliveries advisory, acking it: %r", advisory.data[:200])
            return
        js = self._connection().jetstream()
        subject, headers, body, note = "", None, b"", ""
        try:
            original = await js.get_msg(stream, seq)
            subject = original.subject or ""
            headers = original.headers
            body = original.data or b""
        except nats.js.errors.NotFoundError:
            note = f" The original ({stream} seq {seq}) is gone from the stream."
        await self._writer.write(
            subject=subject,
            headers=headers,
            body=body,
            stream=stream,
            seq=seq,
            attempts=deliveries,
            reason="max_deliver_exceeded:unsettled",
            error_type="MaxDeliveriesAdvisory",
            error_message=(
                "deliveries exhausted without a record from the worker: its process stopped "
                "mid-message (crash, kill, or stop on the last delivery) or its DLQ write "
                "failed; see the worker's logs around failed-at." + note
            ),
            origin="advisory",
        )
        await self._remove_original(js, stream, seq)
        log.warning(
            "dead-lettered %s seq %d from a max-deliveries advisory (%d deliveries) at %s",
            stream,
            seq,
            deliveries,
            datetime.now(UTC).isoformat(),
        )

    async def _remove_original(self, js: JetStreamContext, stream: str, seq: int) -> None:
        """On workqueue and interest streams an exhausted message stays forever and any new
        consumer gets it again (facts §2); now that the record is stored, delete it."""
        if stream not in self._retention:
            try:
                info = await js.stream_info(stream)
                self._retention[stream] = info.config.retention
            except nats.js.errors.NotFoundError:
                self._retention[stream] = None
        if self._retention[stream] in (RetentionPolicy.WORK_QUEUE, RetentionPolicy.INTEREST):
            with contextlib.suppress(nats.js.errors.NotFoundError):
                await js.delete_msg(stream, seq)
