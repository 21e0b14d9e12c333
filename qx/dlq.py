"""The dead-letter record format, shared by the worker (writes) and the ops CLI (reads/replays).

A record is a NATS message on ``<prefix>.<stream>.<durable>`` whose body is the original body,
byte for byte, and whose headers are the original headers plus ``Qx-Dlq-*`` facts about the
failure. ``Nats-Msg-Id`` is ``qx-dlq:<stream>:<consumer>:<seq>`` so the worker path and the
advisory path can both write it without duplicating, while two services consuming the same
message (two durables) each keep their own record in a shared DLQ stream.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

PREFIX = "Qx-Dlq-"
H_REASON = PREFIX + "Reason"
H_ERROR_TYPE = PREFIX + "Error-Type"
H_ERROR_MESSAGE = PREFIX + "Error-Message"
H_ATTEMPTS = PREFIX + "Attempts"
H_STREAM = PREFIX + "Stream"
H_SEQ = PREFIX + "Stream-Seq"
H_CONSUMER = PREFIX + "Consumer"
H_SUBJECT = PREFIX + "Subject"
H_FAILED_AT = PREFIX + "Failed-At"
H_ORIGIN = PREFIX + "Origin"  # "worker" or "advisory"
H_PAYLOAD_OMITTED = PREFIX + "Payload-Omitted"
H_TRACE_ID = PREFIX + "Trace-Id"

_DROP = {"nats-msg-id", "nats-expected-stream", "nats-expected-last-sequence"}
_MAX_MESSAGE = 1000


def record_id(stream: str, consumer: str, seq: int) -> str:
    return f"qx-dlq:{stream}:{consumer}:{seq}"


def _clean(value: str, limit: int = _MAX_MESSAGE) -> str:
    # NATS replaces CR/LF in header values anyway (facts §11); do it visibly, and bound size.
    flat = " ".join(value.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def build_record_headers(
    original: Mapping[str, str] | None,
    *,
    subject: str,
    stream: str,
    seq: int,
    consumer: str,
    attempts: int,
    reason: str,
    error_type: str,
    error_message: str,
    origin: str,
    trace_id: str | None = None,
    failed_at: datetime | None = None,
) -> dict[str, str]:
    headers = {k: v for k, v in (original or {}).items() if k.lower() not in _DROP}
    headers.update(
        {
            H_REASON: _clean(reason, 200),
            H_ERROR_TYPE: _clean(error_type or "unknown", 200),
            H_ERROR_MESSAGE: _clean(error_message or "-"),
            H_ATTEMPTS: str(attempts),
            H_STREAM: stream,
            H_SEQ: str(seq),
            H_CONSUMER: consumer,
            H_SUBJECT: subject,
            H_FAILED_AT: (failed_at or datetime.now(UTC)).isoformat().replace("+00:00", "Z"),
            H_ORIGIN: origin,
            "Nats-Msg-Id": record_id(stream, consumer, seq),
        }
    )
    if trace_id:
        headers[H_TRACE_ID] = trace_id
    return headers


@dataclass(frozen=True, slots=True)
class DlqRecord:
    """A record read back from the DLQ stream (``dlq_seq`` is its sequence there)."""

    dlq_seq: int
    subject: str
    stream: str
    stream_seq: int
    consumer: str
    reason: str
    error_type: str
    error_message: str
    attempts: int
    failed_at: str
    origin: str
    trace_id: str | None
    payload_omitted: bool
    original_headers: dict[str, str]
    body: bytes

    @property
    def id(self) -> str:
        return record_id(self.stream, self.consumer, self.stream_seq)


def parse_record(dlq_seq: int, headers: Mapping[str, str] | None, body: bytes | None) -> DlqRecord:
    h = dict(headers or {})
    original = {k: v for k, v in h.items() if not k.startswith(PREFIX) and k != "Nats-Msg-Id"}

    def num(name: str) -> int:
        try:
            return int(h.get(name, "0"))
        except ValueError:
            return 0

    return DlqRecord(
        dlq_seq=dlq_seq,
        subject=h.get(H_SUBJECT, ""),
        stream=h.get(H_STREAM, ""),
        stream_seq=num(H_SEQ),
        consumer=h.get(H_CONSUMER, ""),
        reason=h.get(H_REASON, ""),
        error_type=h.get(H_ERROR_TYPE, ""),
        error_message=h.get(H_ERROR_MESSAGE, ""),
        attempts=num(H_ATTEMPTS),
        failed_at=h.get(H_FAILED_AT, ""),
        origin=h.get(H_ORIGIN, ""),
        trace_id=h.get(H_TRACE_ID),
        payload_omitted=H_PAYLOAD_OMITTED in h,
        original_headers=original,
        body=body or b"",
    )
