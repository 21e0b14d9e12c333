"""DLQ operations: list, show, replay and purge the records the worker and the advisory path write.

Reading walks the DLQ stream with "next message at or after seq" requests (``STREAM.MSG.GET``
with ``next_by_subj``) instead of a consumer: nothing is created on the server, an interrupted
command leaves no ephemeral consumer behind, and the gaps that replayed or purged records leave
cost nothing. One round trip per record (well under a millisecond on a LAN) is fine for the DLQ
sizes an operator inspects by hand.

Replay republishes the original body and headers to the original subject as a fresh delivery:

* ``ce-id`` and ``Nats-Msg-Id`` become ``replay:<record id>``. The id is derived from the record,
  so replaying the same record again (a retried command, two operators at once, a crash between
  the PubAck and the delete) is dropped by JetStream's duplicate window on the source stream.
* ``ce-correlationid`` is kept (set to the original event id if the original had none, because a
  reader would otherwise derive the correlation from the new id), ``ce-causationid`` becomes the
  original event id, ``traceparent`` is kept so the replay joins the original trace, and
  ``Qx-Replay-Of`` names the record. Legacy Qx envelopes get the same treatment through their
  ``qx.*`` headers, which take precedence over the body's fields, so the body stays byte for byte.

After the PubAck the record is **deleted** from the DLQ stream rather than marked. A DLQ record is
an immutable message, so "marking" would mean writing a second record that every reader has to
reconcile; deleting keeps the DLQ meaning "what still needs attention". Nothing is lost: the
replayed message carries the record id, and if it fails again the worker writes a new record
(with a new id, since it has a new stream sequence).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import nats.js.errors
from nats.aio.client import Client

from qx.dlq import DROP, PREFIX, DlqRecord, is_record, parse_record
from qx.events import decode_value_lenient, encode_value, lower_keys
from qx.exceptions import (
    DlqRecordNotFoundError,
    DlqStreamNotFoundError,
    OpsError,
    ReplayError,
)
from qx.transport import HeaderPairs, get_stored, publish_with_retry, publishable

REPLAY_OF = "Qx-Replay-Of"
"""Header on a replayed message naming the DLQ record it came from."""

_TYPE_SUFFIX = ".v"


@dataclass(frozen=True, slots=True)
class DlqState:
    """How many records the DLQ holds and its sequence range (for confirmations and purge)."""

    stream: str
    records: int
    first_seq: int
    last_seq: int


@dataclass(frozen=True, slots=True)
class ReplayMessage:
    """What a replay publishes; a pure function of the record, so it can be checked offline."""

    subject: str
    headers: dict[str, str]
    body: bytes
    event_id: str


@dataclass(frozen=True, slots=True)
class Replayed:
    """The outcome for one record. ``error`` is set when it was not replayed (and not deleted)."""

    record_id: str
    dlq_seq: int
    subject: str
    event_id: str | None = None
    stream_seq: int | None = None
    duplicate: bool = False
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


# -- facts about a record ----------------------------------------------------------------------


def _legacy_doc(record: DlqRecord) -> dict[str, Any] | None:
    """The body as a legacy Qx envelope (``event_name`` + ``payload``), if it is one."""
    try:
        doc = json.loads(record.body)
    except (UnicodeDecodeError, ValueError):
        return None
    if isinstance(doc, dict) and "event_name" in doc and "payload" in doc:
        return doc
    return None


def event_type_of(record: DlqRecord) -> str | None:
    """The original event type (CloudEvents ``ce-type`` or Qx ``event_name``), if readable."""
    return _envelope_field(record, "ce-type", "qx.event_name", "event_name")


def event_id_of(record: DlqRecord) -> str | None:
    """The original event id, if the message had an envelope."""
    return _envelope_field(record, "ce-id", "qx.event_id", "event_id")


def _envelope_field(record: DlqRecord, ce_header: str, qx_header: str, body_key: str) -> str | None:
    """Read from headers rather than ``parse_envelope``: poison records (bad JSON, missing
    fields) are exactly the ones an operator needs to see, and the parser refuses them."""
    h = lower_keys(record.original_headers)
    if h.get(ce_header):
        return decode_value_lenient(h[ce_header])
    if h.get(qx_header):
        return h[qx_header]
    doc = _legacy_doc(record)
    return str(doc[body_key]) if doc and doc.get(body_key) is not None else None


def trace_id_of(record: DlqRecord) -> str | None:
    """The worker's trace id, else the producer's from ``traceparent`` (advisory records have
    no worker span, but the original message usually carries the producer's context)."""
    if record.trace_id:
        return record.trace_id
    parent = lower_keys(record.original_headers).get("traceparent", "")
    parts = parent.split("-")
    if len(parts) >= 3 and len(parts[1]) == 32:
        return parts[1]
    return None


def _split_type(event_type: str) -> tuple[str, int | None]:
    base, sep, version = event_type.rpartition(_TYPE_SUFFIX)
    return (base, int(version)) if sep and base and version.isdigit() else (event_type, None)


def _version_of(record: DlqRecord) -> int | None:
    h = lower_keys(record.original_headers)
    raw = h.get("ce-qxversion") or h.get("qx.event_version") or ""
    return int(raw) if raw.isdigit() else None


def matches(record: DlqRecord, *, event_type: str | None, consumer: str | None) -> bool:
    """``orders.placed`` matches every version of that type, ``orders.placed.v2`` only version 2
    (whether the producer put the version in ``ce-type`` or in ``ce-qxversion``)."""
    if consumer is not None and record.consumer != consumer:
        return False
    if event_type is None:
        return True
    actual = event_type_of(record)
    if actual is None:
        return False
    if actual == event_type:
        return True
    actual_base, actual_version = _split_type(actual)
    if actual_version is None:
        actual_version = _version_of(record)
    wanted_base, wanted_version = _split_type(event_type)
    if wanted_version is None:
        return actual_base == event_type
    return actual_base == wanted_base and actual_version == wanted_version


REPLAY_ID_PREFIX = "replay:"
"""A replayed message's event id is this prefix and the DLQ record id."""


def replay_event_id(record: DlqRecord) -> str:
    return f"{REPLAY_ID_PREFIX}{record.id}"


def original_event_id(event_id: str, causation_id: str | None) -> str:
    """The id of the event a message stands for: its own, or for a replay the original's,
    which the replay carries as its causation id. Deduplication (the outbox inbox) keys on
    this, so replaying an event whose effect was already committed does not apply it again."""
    if event_id.startswith(REPLAY_ID_PREFIX) and causation_id:
        return causation_id
    return event_id


def _set(headers: HeaderPairs, name: str, value: str) -> None:
    """Set ``name`` case-insensitively, keeping the producer's spelling: two spellings of one
    header would both go on the wire and readers would pick either. Replaces every field of
    that name (a repeated ``ce-id`` would otherwise survive next to the new one)."""
    spelling = next((k for k, _ in headers if k.lower() == name.lower()), name)
    headers[:] = [(k, v) for k, v in headers if k.lower() != name.lower()]
    headers.append((spelling, value))


def build_replay(
    record: DlqRecord, body: bytes | None = None, headers: HeaderPairs | None = None
) -> ReplayMessage:
    """The message that replays ``record``; ``body`` and ``headers`` override an original the
    DLQ could not copy (read back from the source stream)."""
    if not record.subject:
        raise ReplayError(
            f"{record.id} cannot be replayed: the original was already gone from "
            f"{record.stream or 'its stream'} when the record was written, so its subject and "
            "payload are unknown; purge the record instead"
        )
    new_id = replay_event_id(record)
    source = record.headers if headers is None else headers
    pairs = [(k, v) for k, v in source if not k.startswith(PREFIX) and k.lower() not in DROP]
    h = lower_keys(dict(pairs))
    if "ce-specversion" in h:
        # A replay of a replay names the first original, not the previous replay.
        original = h.get("ce-id")
        if original:
            original = original_event_id(original, h.get("ce-causationid"))
        _set(pairs, "ce-id", encode_value(new_id))
        if original:
            _set(pairs, "ce-causationid", original)
            if not h.get("ce-correlationid"):
                _set(pairs, "ce-correlationid", original)
    elif "qx.event_name" in h or _legacy_doc(record) is not None:
        original = event_id_of(record)
        doc = _legacy_doc(record) or {}
        if original:
            cause = h.get("qx.causation_id") or doc.get("causation_id")
            original = original_event_id(original, str(cause) if cause else None)
        correlation = h.get("qx.correlation_id") or doc.get("correlation_id") or original
        _set(pairs, "qx.event_id", new_id)
        if original:
            _set(pairs, "qx.causation_id", original)
        if correlation:
            _set(pairs, "qx.correlation_id", str(correlation))
    _set(pairs, "Nats-Msg-Id", new_id)
    _set(pairs, REPLAY_OF, record.id)
    return ReplayMessage(
        record.subject, publishable(pairs), record.body if body is None else body, new_id
    )


# -- reading -------------------------------------------------------------------------------------


async def dlq_state(nc: Client, dlq_stream: str) -> DlqState:
    """Raises ``DlqStreamNotFoundError`` with a hint when the stream does not exist."""
    try:
        info = await nc.jetstream().stream_info(dlq_stream)
    except nats.js.errors.NotFoundError:
        raise DlqStreamNotFoundError(
            f"DLQ stream {dlq_stream!r} does not exist on this server; check --dlq-stream "
            "(env QX_DLQ_STREAM) or start a worker once so it provisions the stream"
        ) from None
    state = info.state
    return DlqState(dlq_stream, state.messages, state.first_seq, state.last_seq)


async def _iter_raw(nc: Client, dlq_stream: str, start: int, stop: int) -> AsyncIterator[DlqRecord]:
    seq = max(start, 1)
    while seq <= stop:
        try:
            raw = await get_stored(nc, dlq_stream, seq, next_matching=">")
        except nats.js.errors.NotFoundError:
            return  # nothing at or after seq
        if raw.seq > stop:
            return
        if is_record(raw.headers):  # skip foreign messages
            yield parse_record(raw.seq, raw.headers, raw.data)
        seq = raw.seq + 1


async def iter_records(
    nc: Client,
    dlq_stream: str,
    *,
    event_type: str | None = None,
    consumer: str | None = None,
) -> AsyncIterator[DlqRecord]:
    """Records in DLQ order, up to the last one present when the walk started (records that
    arrive meanwhile are left for the next command, so a bulk action cannot chase its tail)."""
    state = await dlq_state(nc, dlq_stream)
    if state.records == 0:
        return
    async for record in _iter_raw(nc, dlq_stream, state.first_seq, state.last_seq):
        if matches(record, event_type=event_type, consumer=consumer):
            yield record


async def list_records(
    nc: Client,
    dlq_stream: str,
    *,
    event_type: str | None = None,
    consumer: str | None = None,
    limit: int | None = None,
) -> list[DlqRecord]:
    """Records in DLQ order, optionally only one event type and/or one consumer."""
    found: list[DlqRecord] = []
    async for record in iter_records(nc, dlq_stream, event_type=event_type, consumer=consumer):
        found.append(record)
        if limit is not None and len(found) >= limit:
            break
    return found


Origin = tuple[str, str | None, int]  # (stream, consumer or None = any, stream seq)


def _parse_id(record_id: str | int) -> int | Origin:
    """A DLQ sequence number, or the origin ``qx-dlq:<stream>:<consumer>:<seq>`` names
    (``qx-dlq:<stream>:<seq>`` matches the records of every consumer of that message)."""
    text = str(record_id).strip()
    if text.isdigit():
        return int(text)
    prefix, _, rest = text.partition(":")
    parts = rest.split(":")
    seq = parts[-1]
    if prefix != "qx-dlq" or len(parts) < 2 or not parts[0] or not seq.isdigit():
        raise DlqRecordNotFoundError(
            f"{text!r} is not a DLQ record id; use the id shown by `dlq list` "
            "(qx-dlq:<stream>:<consumer>:<seq>) or the DLQ sequence number"
        )
    if len(parts) == 2:
        return parts[0], None, int(seq)
    return ":".join(parts[:-2]), parts[-2], int(seq)


async def _resolve(nc: Client, dlq_stream: str, ids: Sequence[str | int]) -> list[DlqRecord]:
    wanted = [(str(i), _parse_id(i)) for i in ids]
    by_key: dict[int | Origin, list[DlqRecord]] = {}
    state = await dlq_state(nc, dlq_stream)
    by_seq = {key for _, key in wanted if isinstance(key, int)}
    by_origin = {key for _, key in wanted if isinstance(key, tuple)}
    for seq in by_seq:
        try:
            raw = await get_stored(nc, dlq_stream, seq)
        except nats.js.errors.NotFoundError:
            continue
        if is_record(raw.headers):
            by_key[seq] = [parse_record(seq, raw.headers, raw.data)]
    if by_origin and state.records:
        async for record in _iter_raw(nc, dlq_stream, state.first_seq, state.last_seq):
            # After the duplicate window both paths can write a record for one message;
            # all of them stand for the same failure and are handled together.
            for origin in (
                (record.stream, record.consumer, record.stream_seq),
                (record.stream, None, record.stream_seq),
            ):
                if origin in by_origin:
                    by_key.setdefault(origin, []).append(record)
    missing = [text for text, key in wanted if key not in by_key]
    if missing:
        raise DlqRecordNotFoundError(
            f"no DLQ record {', '.join(missing)} in {dlq_stream}; it may have been replayed or "
            "purged already (see `dlq list`)"
        )
    seen: set[int] = set()
    out: list[DlqRecord] = []
    for _, key in wanted:
        for record in by_key[key]:
            if record.dlq_seq not in seen:
                seen.add(record.dlq_seq)
                out.append(record)
    return out


async def get_record(nc: Client, dlq_stream: str, record_id: str | int) -> DlqRecord:
    """One record by ``qx-dlq:<stream>:<consumer>:<seq>`` or by its DLQ sequence number."""
    return (await _resolve(nc, dlq_stream, [record_id]))[0]


async def select_records(
    nc: Client,
    dlq_stream: str,
    ids: Sequence[str | int] | None = None,
    *,
    all_records: bool = False,
    event_type: str | None = None,
    consumer: str | None = None,
) -> list[DlqRecord]:
    """What a bulk action would touch: the given ids, or every record matching the filters.

    Asking for both or neither is refused, so an empty id list can never mean "everything".
    """
    if bool(ids) == all_records:
        raise ValueError("pass record ids, or all_records=True (optionally with filters)")
    if ids:
        records = await _resolve(nc, dlq_stream, ids)
        return [r for r in records if matches(r, event_type=event_type, consumer=consumer)]
    return await list_records(nc, dlq_stream, event_type=event_type, consumer=consumer)


# -- changing ------------------------------------------------------------------------------------


async def read_omitted(nc: Client, record: DlqRecord) -> tuple[bytes | None, HeaderPairs | None]:
    """(payload, headers) from the source stream for what the record could not copy (too
    large with the DLQ facts); None for what the record itself holds."""
    if not record.payload_omitted and not record.headers_omitted:
        return None, None
    try:
        raw = await get_stored(nc, record.stream, record.stream_seq)
    except nats.js.errors.NotFoundError:
        raise ReplayError(
            f"{record.id}: the original was too large to copy into the DLQ and is gone from "
            f"{record.stream} (max_age or a delete removed it)"
        ) from None
    return (
        raw.data if record.payload_omitted else None,
        raw.headers if record.headers_omitted else None,
    )


async def _delete(nc: Client, dlq_stream: str, seq: int) -> None:
    # NotFound: someone else replayed or purged it meanwhile, which is the outcome we wanted.
    with contextlib.suppress(nats.js.errors.NotFoundError):
        await nc.jetstream().delete_msg(dlq_stream, seq)


async def replay_records(
    nc: Client,
    dlq_stream: str,
    records: Sequence[DlqRecord],
    *,
    on_done: Callable[[Replayed], None] | None = None,
    publish_attempts: int = 3,
) -> list[Replayed]:
    """Replay each record, then delete it; a record that fails is kept and reported."""
    results: list[Replayed] = []
    for record in records:
        try:
            message = build_replay(record, *await read_omitted(nc, record))
            ack = await publish_with_retry(
                nc, message.subject, message.body, message.headers, attempts=publish_attempts
            )
            await _delete(nc, dlq_stream, record.dlq_seq)
            result = Replayed(
                record.id,
                record.dlq_seq,
                message.subject,
                event_id=message.event_id,
                stream_seq=ack.seq,
                duplicate=bool(ack.duplicate),
            )
        except Exception as exc:  # one bad record must not stop a bulk replay; it is reported
            result = Replayed(record.id, record.dlq_seq, record.subject, error=str(exc))
        results.append(result)
        if on_done is not None:
            on_done(result)
    return results


async def replay(
    nc: Client,
    dlq_stream: str,
    ids: Sequence[str | int] | None = None,
    *,
    all_records: bool = False,
    event_type: str | None = None,
    consumer: str | None = None,
    on_done: Callable[[Replayed], None] | None = None,
) -> list[Replayed]:
    """Replay the given records (or all matching the filters) to their original subjects.

    Unknown ids fail the whole call before anything is published; a record that cannot be
    replayed is reported in its ``Replayed.error`` and stays in the DLQ.
    """
    records = await select_records(
        nc,
        dlq_stream,
        ids,
        all_records=all_records,
        event_type=event_type,
        consumer=consumer,
    )
    return await replay_records(nc, dlq_stream, records, on_done=on_done)


async def purge(
    nc: Client,
    dlq_stream: str,
    ids: Sequence[str | int] | None = None,
    *,
    all_records: bool = False,
    event_type: str | None = None,
    consumer: str | None = None,
    up_to_seq: int | None = None,
) -> int:
    """Delete records for good; returns how many were removed.

    Without ids or filters the stream is purged in one request, bounded by ``up_to_seq`` (the
    last DLQ sequence the operator saw when confirming) so records that arrive after the
    confirmation are not thrown away unseen.
    """
    if all_records and not ids and event_type is None and consumer is None:
        state = await dlq_state(nc, dlq_stream)
        last = state.last_seq if up_to_seq is None else min(up_to_seq, state.last_seq)
        if state.records == 0 or last < state.first_seq:
            return 0
        return await _purge_below(nc, dlq_stream, last + 1)
    records = await select_records(
        nc,
        dlq_stream,
        ids,
        all_records=all_records,
        event_type=event_type,
        consumer=consumer,
    )
    removed = 0
    for record in records:
        if up_to_seq is not None and record.dlq_seq > up_to_seq:
            continue
        await _delete(nc, dlq_stream, record.dlq_seq)
        removed += 1
    return removed


async def _purge_below(nc: Client, dlq_stream: str, seq: int) -> int:
    """``STREAM.PURGE`` with ``seq``: removes every message below it and reports the count,
    which nats-py's ``purge_stream`` drops."""
    resp = await nc.request(
        f"$JS.API.STREAM.PURGE.{dlq_stream}", json.dumps({"seq": seq}).encode(), timeout=5.0
    )
    doc = json.loads(resp.data)
    if "error" in doc:
        err = doc["error"]
        raise OpsError(
            f"purging {dlq_stream} failed: {err.get('description', err)} (code {err.get('code')})"
        )
    return int(doc.get("purged", 0))
