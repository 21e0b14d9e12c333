"""The wire format: read CloudEvents (binary mode) and the legacy Qx envelope; write CloudEvents.

Reading is a pure function of (subject, headers, body) so it can be fuzzed without a server.
Everything that makes a message unusable raises a ``PoisonMessageError`` subclass with a
message an operator can act on.

Version resolution for producers that send no explicit version, first match wins:
1. the ``qxversion`` CloudEvents extension (``ce-qxversion``), written by qx producers;
2. a ``.vN`` suffix on ``ce-type`` (``orders.order.placed.v2``);
3. a trailing ``vN`` / ``N`` segment of ``ce-dataschema`` (``.../orders/placed/v2.json``);
4. a ``.vN`` token at the end of the subject (``<prefix>.<type>.v<N>``);
5. the only version this service registers for that type (left to ``EventRegistry``).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from qx.core import RequestContext
from qx.events._base import IntegrationEvent, event_meta
from qx.events._header_values import decode_value, encode_value, lower_keys
from qx.exceptions import InvalidJsonError, MissingEnvelopeFieldError, UnsupportedSpecVersionError

_orjson_loads: Callable[[bytes], Any] | None
try:
    from orjson import loads as _orjson_loads
except ImportError:  # the ``fast`` extra is optional
    _orjson_loads = None

_LONG_DIGITS = re.compile(rb"[0-9]{19}")

CE_SPECVERSION = "1.0"
_TYPE_VERSION = re.compile(r"^(?P<type>.+)\.v(?P<version>[0-9]{1,9})$")
_SCHEMA_VERSION = re.compile(r"(?:^|[/:._-])v?(?P<version>[0-9]{1,9})(?:\.json|\.ya?ml)?$")
_SUBJECT_VERSION = re.compile(r"\.v(?P<version>[0-9]{1,9})$")
_ASCII_INT = re.compile(r"^[0-9]{1,9}$")


@dataclass(slots=True)  # not frozen: a frozen init costs ~2 µs per message on the hot path
class Envelope:
    """What we learned from a message before looking at the event registry."""

    format: Literal["cloudevents", "qx"]
    event_type: str
    event_version: int | None
    event_id: str
    data: Any
    correlation_id: str
    causation_id: str | None = None
    tenant_id: str | None = None
    actor_id: str | None = None
    source: str | None = None
    time: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-cased keys, raw values

    def request_context(self, trace_id: str | None = None) -> RequestContext:
        return RequestContext(
            trace_id=trace_id,
            correlation_id=self.correlation_id,
            event_id=self.event_id,
            causation_id=self.causation_id,
            tenant_id=self.tenant_id,
            actor_id=self.actor_id,
        )


def parse_envelope(
    subject: str, headers: Mapping[str, str] | None, body: bytes, *, lowered: bool = False
) -> Envelope:
    """Decode one NATS message. Raises a PoisonMessageError subclass if it cannot be used.

    ``lowered=True`` says the header names are already lower-case (the worker does that once).
    """
    h: Mapping[str, str] = (headers or {}) if lowered else lower_keys(headers)
    if "ce-specversion" in h:
        return _parse_cloudevent(subject, h, body)
    if "qx.event_name" in h:
        return _parse_qx(h, body)
    # Structured-mode CloudEvents and header-less Qx envelopes are recognised by their body.
    doc = _json(body)
    if isinstance(doc, dict) and "specversion" in doc:
        return _parse_structured(subject, h, doc)
    if isinstance(doc, dict) and "event_name" in doc and "payload" in doc:
        return _qx_from_doc(h, doc)
    raise MissingEnvelopeFieldError(
        "message carries neither CloudEvents headers (ce-specversion, ce-type, ce-id, ce-source) "
        "nor a Qx envelope (qx.event_name); publish it with NatsPublisher or add those headers"
    )


def _json(body: bytes) -> Any:
    # UTF-8 only (RFC 8259 §8.1, and CloudEvents' JSON format): json.loads(bytes) would also
    # guess UTF-16/32 from the first bytes, turning binary junk into "valid" events.
    if _orjson_loads is not None and _LONG_DIGITS.search(body) is None:
        # orjson (the ``fast`` extra) is ~5x faster. Whatever it refuses (NaN, UTF-16, lone
        # surrogates, deep nesting...) is decided by json.loads; numbers of 19+ digits never
        # reach it, as it turns integers beyond 64 bits into floats. So the result is always
        # exactly json.loads's (tests/unit/test_json_fast_path.py).
        try:
            return _orjson_loads(body)
        except ValueError:
            pass
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        preview = body[:60].decode("utf-8", "replace")
        raise InvalidJsonError(f"body is not valid JSON ({exc}); body starts {preview!r}") from None


def _required(h: Mapping[str, str], name: str) -> str:
    value = h.get(name)
    if value is None or value == "":
        raise MissingEnvelopeFieldError(f"CloudEvents header {name!r} is missing or empty")
    return decode_value(value)


def _optional(h: Mapping[str, str], name: str) -> str | None:
    value = h.get(name)
    return decode_value(value) if value else None


def _parse_cloudevent(subject: str, h: Mapping[str, str], body: bytes) -> Envelope:
    specversion = _required(h, "ce-specversion")
    if not specversion.startswith("1."):
        raise UnsupportedSpecVersionError(
            f"unsupported CloudEvents specversion {specversion!r}; qx reads 1.x (send 1.0)"
        )
    raw_type = _required(h, "ce-type")
    event_id = _required(h, "ce-id")
    source = _required(h, "ce-source")
    event_type, version = _split_version(raw_type, h, subject)
    correlation = _optional(h, "ce-correlationid") or event_id
    return Envelope(
        format="cloudevents",
        event_type=event_type,
        event_version=version,
        event_id=event_id,
        data=_json(body),
        correlation_id=correlation,
        causation_id=_optional(h, "ce-causationid"),
        tenant_id=_optional(h, "ce-tenantid"),
        actor_id=_optional(h, "ce-actorid"),
        source=source,
        time=_optional(h, "ce-time"),
        headers=h,
    )


def _parse_structured(subject: str, h: Mapping[str, str], doc: dict[str, Any]) -> Envelope:
    """CloudEvents structured mode (``application/cloudevents+json``): attributes in the body.

    Mapped onto the binary-mode reader so both follow exactly the same rules.
    """
    if "data_base64" in doc:
        raise MissingEnvelopeFieldError(
            "structured CloudEvent carries data_base64; qx events are JSON, send `data`"
        )
    # Encoded so the binary reader's percent-decoding gives back exactly the body's values.
    attrs = {
        f"ce-{k}": encode_value(v if isinstance(v, str) else json.dumps(v))
        for k, v in doc.items()
        if k != "data" and v is not None
    }
    data = json.dumps(doc.get("data")).encode()
    return _parse_cloudevent(subject, {**h, **attrs}, data)


def _split_version(raw_type: str, h: Mapping[str, str], subject: str) -> tuple[str, int | None]:
    explicit = _optional(h, "ce-qxversion")
    m = _TYPE_VERSION.match(raw_type)
    event_type = m.group("type") if m else raw_type
    if explicit is not None:
        if not _ASCII_INT.match(explicit):
            raise MissingEnvelopeFieldError(f"ce-qxversion must be an integer, got {explicit!r}")
        return event_type, int(explicit)
    if m:
        return event_type, int(m.group("version"))
    schema = _optional(h, "ce-dataschema")
    if schema and (sm := _SCHEMA_VERSION.search(schema)):
        return event_type, int(sm.group("version"))
    if sm := _SUBJECT_VERSION.search(subject):
        return event_type, int(sm.group("version"))
    return event_type, None


def _parse_qx(h: Mapping[str, str], body: bytes) -> Envelope:
    doc = _json(body)
    if not isinstance(doc, dict):
        raise MissingEnvelopeFieldError("Qx envelope body must be a JSON object with a payload")
    return _qx_from_doc(h, doc)


def _qx_from_doc(h: Mapping[str, str], doc: dict[str, Any]) -> Envelope:
    def pick(header: str, key: str) -> str | None:
        value = h.get(header)
        if value:
            return value
        body_value = doc.get(key)
        return None if body_value is None else str(body_value)

    name = pick("qx.event_name", "event_name")
    event_id = pick("qx.event_id", "event_id")
    if not name:
        raise MissingEnvelopeFieldError("Qx envelope has no event_name")
    if not event_id:
        raise MissingEnvelopeFieldError("Qx envelope has no event_id")
    if "payload" not in doc:
        raise MissingEnvelopeFieldError("Qx envelope has no payload")
    raw_version = pick("qx.event_version", "event_version")
    version: int | None = None
    if raw_version is not None:
        if not _ASCII_INT.match(raw_version):
            raise MissingEnvelopeFieldError(
                f"Qx envelope event_version must be an integer, got {raw_version!r}"
            )
        version = int(raw_version)
    occurred = doc.get("occurred_at")
    return Envelope(
        format="qx",
        event_type=name,
        event_version=version,
        event_id=event_id,
        data=doc["payload"],
        correlation_id=pick("qx.correlation_id", "correlation_id") or event_id,
        causation_id=pick("qx.causation_id", "causation_id"),
        tenant_id=pick("qx.tenant_id", "tenant_id"),
        actor_id=pick("qx.actor_id", "actor_id"),
        source=None,
        time=None if occurred is None else str(occurred),
        headers=dict(h),
    )


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    subject: str
    headers: dict[str, str]
    body: bytes
    event_id: str


def encode_cloudevent(
    event: IntegrationEvent,
    *,
    source: str,
    context: RequestContext | None = None,
    event_id: str | None = None,
    subject: str | None = None,
    time: datetime | None = None,
    tenant_id: str | None = None,
    correlation_id: str | None = None,
    extra_headers: Mapping[str, str] | None = None,
) -> OutgoingMessage:
    """CloudEvents 1.0 binary mode. Inside a handler, correlation and tenant are inherited and
    the consumed event becomes the causation."""
    meta = event_meta(type(event))
    eid = event_id or str(uuid.uuid4())
    when = (time or datetime.now(UTC)).isoformat().replace("+00:00", "Z")
    correlation = correlation_id or (context.correlation_id if context else None) or eid
    tenant = tenant_id or (context.tenant_id if context else None)
    headers = {
        "ce-specversion": CE_SPECVERSION,
        "ce-id": encode_value(eid),
        "ce-type": encode_value(meta.type),
        "ce-source": encode_value(source),
        "ce-time": when,
        "ce-qxversion": str(meta.version),
        "ce-correlationid": encode_value(correlation),
        "content-type": "application/json",
        "Nats-Msg-Id": eid,
    }
    if context is not None and context.event_id:
        headers["ce-causationid"] = encode_value(context.event_id)
    if tenant:
        headers["ce-tenantid"] = encode_value(tenant)
    if extra_headers:
        headers.update(extra_headers)
    body = json.dumps(event.to_json_data(), separators=(",", ":"), ensure_ascii=False).encode()
    return OutgoingMessage(subject or meta.subject, headers, body, eid)
