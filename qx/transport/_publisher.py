"""Publishing events as CloudEvents with an awaited PubAck.

Retries reuse the same ``Nats-Msg-Id``: a publish that timed out may still have been stored
(facts §9), and JetStream's dedup window turns the retry into a no-op instead of a duplicate.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.js.api import PubAck

from qx.core import RequestContext
from qx.events import IntegrationEvent, decode_value, encode_cloudevent, event_meta
from qx.exceptions import PayloadTooLargeError, PublishError
from qx.telemetry import inject_trace_headers, producer_span

log = logging.getLogger("qx.publisher")

_MAX_JS_HEADER_BYTES = 64 * 1024
_RETRYABLE = (nats.errors.TimeoutError, nats.js.errors.NoStreamResponseError)


def wire_size(body: bytes, headers: Mapping[str, str] | None) -> tuple[int, int]:
    """(header block bytes, total bytes) as the server counts them against max_payload."""
    if not headers:
        return 0, len(body)
    hdr = len(b"NATS/1.0\r\n\r\n") + sum(
        len(k.encode()) + len(v.encode()) + 4 for k, v in headers.items()
    )
    return hdr, hdr + len(body)


def check_size(nc: Client, subject: str, body: bytes, headers: Mapping[str, str] | None) -> None:
    """Refuse what the server would reject; nats-py checks only the body, and an oversize
    header+body makes the server close the connection for good (facts §11)."""
    hdr, total = wire_size(body, headers)
    limit = nc.max_payload
    if total > limit:
        raise PayloadTooLargeError(
            f"message to {subject} is {total} bytes (headers {hdr}, body {len(body)}), over the "
            f"server's max_payload of {limit}; shrink the event or raise max_payload in the "
            "server config"
        )
    if hdr > _MAX_JS_HEADER_BYTES:
        raise PayloadTooLargeError(
            f"headers of message to {subject} are {hdr} bytes; JetStream allows 64 KiB"
        )


async def publish_with_retry(
    nc: Client,
    subject: str,
    body: bytes,
    headers: dict[str, str],
    *,
    attempts: int = 5,
    timeout: float = 2.0,
    retry_delay: float = 0.2,
) -> PubAck:
    """JetStream publish awaiting the PubAck, retried on timeouts/no-responders."""
    check_size(nc, subject, body, headers)
    js = nc.jetstream()
    last: Exception | None = None
    for attempt in range(1, attempts + 1):
        try:
            return await js.publish(subject, body, timeout=timeout, headers=headers)
        except _RETRYABLE as exc:
            last = exc
            log.warning("publish to %s attempt %d/%d failed: %r", subject, attempt, attempts, exc)
            if attempt < attempts:
                await asyncio.sleep(retry_delay * attempt)
    raise PublishError(
        f"publish to {subject} not acknowledged after {attempts} attempts ({last!r}); is a "
        "stream bound to that subject and the server reachable?"
    ) from last


class NatsPublisher:
    """Publishes typed events. Inside a handler, correlation and tenant follow the consumed
    event and the consumed event becomes the causation."""

    def __init__(self, nc: Client, *, source: str, attempts: int = 5, timeout: float = 2.0) -> None:
        self._nc = nc
        self.source = source
        self.attempts = attempts
        self.timeout = timeout

    async def publish(
        self,
        event: IntegrationEvent,
        *,
        subject: str | None = None,
        event_id: str | None = None,
        tenant_id: str | None = None,
        correlation_id: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> PubAck:
        ctx = RequestContext.current()
        out = encode_cloudevent(
            event,
            source=self.source,
            context=ctx,
            event_id=event_id,
            subject=subject,
            tenant_id=tenant_id,
            correlation_id=correlation_id,
            extra_headers=headers,
        )
        with producer_span(
            out.subject,
            event_id=out.event_id,
            event_type=event_meta(type(event)).type,
            # Headers hold percent-encoded values (non-ASCII ids); spans get what was meant.
            correlation_id=decode_value(out.headers["ce-correlationid"]),
        ):
            inject_trace_headers(out.headers)
            return await publish_with_retry(
                self._nc,
                out.subject,
                out.body,
                out.headers,
                attempts=self.attempts,
                timeout=self.timeout,
            )
