"""Writing DLQ records: from the worker on the final delivery, and from max-deliveries
advisories when the worker could not (it crashed, hung, or the DLQ write itself failed).

Order matters for "nothing lost": the record is written and its PubAck awaited *before* the
original is terminated. If the write fails the original is nak'd instead; when its deliveries
run out the server emits an advisory, captured in its own stream, and ``AdvisoryProcessor``
rebuilds the record from the source stream (facts §2).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime

import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import RetentionPolicy

from qx import dlq
from qx.exceptions import PayloadTooLargeError, PoisonMessageError
from qx.transport import (
    ConsumerSettings,
    HeaderPairs,
    as_pairs,
    check_size,
    get_stored,
    publish_with_retry,
)

log = logging.getLogger("qx.dlq")


Connection = Callable[[], Client]
Headers = Mapping[str, str] | Sequence[tuple[str, str]] | None

_RETRY_FIRST = 0.2
_RETRY_MAX = 5.0


class DeadLetterWriter:
    """``connection`` is a getter: the consumer may rebuild its connection after an outage."""

    def __init__(self, connection: Connection, settings: ConsumerSettings) -> None:
        self._connection = connection
        self._settings = settings

    async def write(
        self,
        *,
        subject: str,
        headers: Headers,
        body: bytes,
        stream: str,
        seq: int,
        attempts: int,
        reason: str,
        error_type: str,
        error_message: str,
        origin: str,
        trace_id: str | None = None,
        exc: BaseException | None = None,
        final: bool = False,
        from_source: bool = True,
    ) -> None:
        """Publish the record and wait for its PubAck; raises if it could not be stored.

        ``from_source``: copy the original's headers from the stored message rather than from
        the delivery (nats-py's ``Msg.headers`` keeps only the last of repeated fields).
        ``final``: the message's last delivery; the write is retried for up to
        ``dlq_write_patience`` seconds (the worker's heartbeat keeps the message meanwhile),
        so a DLQ that is briefly unavailable costs a wait, not a trip through the advisory path.
        """
        pairs = as_pairs(headers)
        if from_source:
            pairs, body = await self._stored_original(stream, seq, pairs, body)
        poison = isinstance(exc, PoisonMessageError)  # its traceback is qx's parser, not news
        facts = dlq.build_facts(
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
            traceback_text=None if poison else dlq.format_traceback(exc),
        )
        deadline = time.monotonic() + (self._settings.dlq_write_patience if final else 0.0)
        delay = _RETRY_FIRST
        while True:
            try:
                await self._publish(pairs, body, facts)
                return
            except Exception as error:
                if time.monotonic() + delay > deadline:
                    raise
                log.warning(
                    "DLQ write for %s seq %d failed (%s: %s); retrying in %.1fs",
                    stream,
                    seq,
                    type(error).__name__,
                    error,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, _RETRY_MAX)

    async def _publish(self, pairs: HeaderPairs, body: bytes, facts: dict[str, str]) -> None:
        """The first layout of the record that the server's limits allow (see ``qx.dlq``).

        A layout the stream refuses as a bad request (its own ``max_msg_size``, say) falls
        through to the next, smaller one; other failures are raised for the caller to retry.
        """
        nc = self._connection()
        subject = self._settings.dlq_subject
        refused: Exception | None = None
        for record_headers, record_body in dlq.record_layouts(pairs, body, facts):
            try:
                check_size(nc, subject, record_body, record_headers)
                await publish_with_retry(
                    nc, subject, record_body, record_headers, attempts=2, timeout=2.0
                )
                return
            except (PayloadTooLargeError, nats.js.errors.BadRequestError) as exc:
                refused = exc
        raise PayloadTooLargeError(  # only if max_payload is below a few KiB
            f"even the facts-only DLQ record for {facts.get(dlq.H_STREAM)} seq "
            f"{facts.get(dlq.H_SEQ)} was refused ({refused})"
        )

    async def _stored_original(
        self, stream: str, seq: int, pairs: HeaderPairs, body: bytes
    ) -> tuple[HeaderPairs, bytes]:
        try:
            stored = await get_stored(self._connection(), stream, seq, timeout=2.0)
        except Exception as exc:  # gone or unreachable: the delivery's copy is what we have
            log.debug("re-reading %s seq %d failed (%s); using the delivery", stream, seq, exc)
            return pairs, body
        return stored.headers, stored.data

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
        subject, headers, body, note = "", list[tuple[str, str]](), b"", ""
        try:
            original = await get_stored(self._connection(), stream, seq)
            subject = original.subject
            headers = original.headers
            body = original.data
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
            from_source=False,  # the advisory is durable: on failure it is nak'd and retried
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
