"""The dead-letter record format, shared by the worker (writes) and the ops CLI (reads/replays).

A record is a NATS message on ``<prefix>.<stream>.<durable>`` carrying ``Qx-Dlq-*`` facts about
the failure as headers. ``Nats-Msg-Id`` is ``qx-dlq:<stream>:<consumer>:<seq>`` so the worker
path and the advisory path can both write it without duplicating, while two services consuming
the same message (two durables) each keep their own record in a shared DLQ stream.

The original message is kept in the first of these layouts that fits the server's limits
(64 KiB of headers, ``max_payload`` in all), so a record can always be written:

1. ``inline``: the original headers (repeated fields included) next to the facts, and the
   original body byte for byte as the record body;
2. ``in-body``: the original header block (``NATS/1.0`` ... blank line) followed by the
   original body as the record body; ``Qx-Dlq-Headers-Length`` says where the block ends;
3. ``in-body`` with the payload omitted: only the header block in the body;
4. ``omitted``: facts only; headers and payload stay readable in the source stream at
   (stream, seq) until its max_age.

``Qx-Dlq-Payload-Omitted`` marks 3 and 4. ``qxgen dlq show/replay`` read the source for them.
"""

from __future__ import annotations

import json
import traceback
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from qx.transport import (
    HeaderPairs,
    as_pairs,
    build_header_block,
    is_token,
    last_values,
    parse_header_block,
    publishable,
)

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
H_TRACEBACK = PREFIX + "Traceback"  # JSON string: one line, any text
H_HEADERS = PREFIX + "Headers"  # absent = inline, "in-body", or "omitted"
H_HEADERS_LENGTH = PREFIX + "Headers-Length"

# Publish controls of the original that must not act on the record (or on a replay).
DROP = frozenset(
    {
        "nats-msg-id",
        "nats-expected-stream",
        "nats-expected-last-sequence",
        "nats-expected-last-subject-sequence",
        "nats-expected-last-msg-id",
        "nats-ttl",
    }
)
_MAX_MESSAGE = 1000
MAX_TRACEBACK = 4000
"""Characters of the handler's traceback kept in a record (the innermost frames)."""


def record_id(stream: str, consumer: str, seq: int) -> str:
    return f"qx-dlq:{stream}:{consumer}:{seq}"


def _clean(value: str, limit: int = _MAX_MESSAGE) -> str:
    # NATS replaces CR/LF in header values anyway (facts §11); do it visibly, and bound size.
    flat = " ".join(value.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def format_traceback(exc: BaseException | None, limit: int = MAX_TRACEBACK) -> str | None:
    """The exception's traceback, its last ``limit`` characters (where the error was raised)."""
    if exc is None:
        return None
    text = "".join(traceback.format_exception(exc)).rstrip()
    return text if len(text) <= limit else "…" + text[-(limit - 1) :]


def build_facts(
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
    traceback_text: str | None = None,
    failed_at: datetime | None = None,
) -> dict[str, str]:
    """The ``Qx-Dlq-*`` headers (and the record's ``Nats-Msg-Id``), bounded in size."""
    facts = {
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
    if trace_id:
        facts[H_TRACE_ID] = trace_id
    if traceback_text:
        facts[H_TRACEBACK] = json.dumps(traceback_text[-MAX_TRACEBACK:], ensure_ascii=False)
    return facts


def record_layouts(
    original: Mapping[str, str] | Sequence[tuple[str, str]] | None,
    body: bytes,
    facts: Mapping[str, str],
) -> Iterator[tuple[dict[str, str], bytes]]:
    """Candidate (headers, body) for the record, most complete first (see the module doc).

    The writer publishes the first one the server's limits allow; the last always fits.
    """
    pairs = as_pairs(original)
    kept = [(k, v) for k, v in pairs if k.lower() not in DROP and not k.startswith(PREFIX)]
    if all(is_token(k) for k, _ in kept):  # else only the raw block can carry them
        yield publishable([*kept, *facts.items()]), body
    block = build_header_block(pairs) if pairs else b""
    in_body = {**facts, H_HEADERS: "in-body", H_HEADERS_LENGTH: str(len(block))}
    yield in_body, block + body
    omitted = f"too large; read {_where(facts)}"
    yield {**in_body, H_PAYLOAD_OMITTED: omitted}, block
    yield {**facts, H_HEADERS: "omitted", H_PAYLOAD_OMITTED: omitted}, b""


def _where(facts: Mapping[str, str]) -> str:
    return f"{facts.get(H_STREAM, '?')} seq {facts.get(H_SEQ, '?')}"


@dataclass(frozen=True, slots=True)
class DlqRecord:
    """A record read back from the DLQ stream (``dlq_seq`` is its sequence there).

    ``headers`` are the original's fields in wire order (a name may repeat);
    ``original_headers`` keeps one value per name for lookups. ``headers_omitted`` and
    ``payload_omitted`` say the original was too large to copy and lives at (stream, seq).
    """

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
    headers: HeaderPairs = field(default_factory=list)
    headers_omitted: bool = False
    traceback: str | None = None

    @property
    def id(self) -> str:
        return record_id(self.stream, self.consumer, self.stream_seq)


def is_record(headers: Mapping[str, str] | Sequence[tuple[str, str]] | None) -> bool:
    return any(k.startswith(PREFIX) for k, _ in as_pairs(headers))


def parse_record(
    dlq_seq: int,
    headers: Mapping[str, str] | Sequence[tuple[str, str]] | None,
    body: bytes | None,
) -> DlqRecord:
    """Never raises: a damaged record is shown as well as it can be, not refused."""
    pairs = as_pairs(headers)
    h = last_values(pairs)
    payload = body or b""
    mode = h.get(H_HEADERS, "inline")
    if mode == "in-body":
        try:
            length = max(0, min(int(h.get(H_HEADERS_LENGTH, "0")), len(payload)))
        except ValueError:
            length = 0
        original = parse_header_block(payload[:length])
        payload = payload[length:]
    elif mode == "omitted":
        original = []
    else:
        original = [(k, v) for k, v in pairs if not k.startswith(PREFIX) and k != "Nats-Msg-Id"]

    def num(name: str) -> int:
        try:
            return int(h.get(name, "0"))
        except ValueError:
            return 0

    tb: str | None = None
    if H_TRACEBACK in h:
        try:
            tb = str(json.loads(h[H_TRACEBACK]))
        except ValueError:
            tb = h[H_TRACEBACK]

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
        original_headers=last_values(original),
        body=payload,
        headers=original,
        headers_omitted=mode == "omitted",
        traceback=tb,
    )
