"""Reading and writing the wire format, including third-party CloudEvents producers."""

from __future__ import annotations

import json
from typing import ClassVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qx.core import RequestContext
from qx.events import (
    IntegrationEvent,
    decode_value,
    encode_cloudevent,
    encode_value,
    parse_envelope,
)
from qx.exceptions import (
    InvalidJsonError,
    InvalidPercentEncodingError,
    MissingEnvelopeFieldError,
    PoisonMessageError,
    UnsupportedSpecVersionError,
)


class Placed(IntegrationEvent):
    __qx_type__: ClassVar[str] = "orders.order.placed"
    __qx_version__: ClassVar[int] = 2
    order_id: str


CE = {"ce-specversion": "1.0", "ce-id": "e1", "ce-source": "svc", "ce-type": "orders.order.placed"}


def test_round_trip_through_our_own_encoder() -> None:
    ctx = RequestContext(correlation_id="corr 1", event_id="cause-9", tenant_id="acme corp")
    out = encode_cloudevent(Placed(order_id="o1"), source="shop", context=ctx, event_id="id-1")
    assert out.subject == "orders.order.placed.v2"
    assert out.headers["ce-tenantid"] == "acme%20corp"
    assert out.headers["Nats-Msg-Id"] == "id-1"
    env = parse_envelope(out.subject, out.headers, out.body)
    assert (env.event_type, env.event_version, env.event_id) == ("orders.order.placed", 2, "id-1")
    assert env.correlation_id == "corr 1"
    assert env.causation_id == "cause-9"
    assert env.tenant_id == "acme corp"
    assert env.data == {"order_id": "o1"}


def test_header_names_match_case_insensitively() -> None:
    headers = {"Ce-Specversion": "1.0", "CE-ID": "x", "Ce-Source": "go-svc", "ce-Type": "a.b.v3"}
    env = parse_envelope("anything", headers, b"{}")
    assert (env.event_type, env.event_version, env.event_id) == ("a.b", 3, "x")


def test_percent_encoded_values_are_decoded() -> None:
    headers = {**CE, "ce-tenantid": "acme%20corp", "ce-correlationid": "z%C3%B6%C3%AB"}
    env = parse_envelope("s", headers, b"{}")
    assert env.tenant_id == "acme corp"
    assert env.correlation_id == "zöë"


@pytest.mark.parametrize(
    ("headers", "subject", "version"),
    [
        ({**CE, "ce-qxversion": "4", "ce-type": "orders.order.placed.v2"}, "x.v3", 4),
        ({**CE, "ce-type": "orders.order.placed.v2"}, "x.v3", 2),
        ({**CE, "ce-dataschema": "https://schemas.example/orders/placed/v5.json"}, "x.v3", 5),
        ({**CE, "ce-dataschema": "urn:schema:orders.order.placed:6"}, "x.v3", 6),
        (CE, "prefix.orders.order.placed.v3", 3),
        (CE, "prefix.orders.order.placed", None),
    ],
)
def test_version_resolution_order(headers: dict[str, str], subject: str, version: int) -> None:
    env = parse_envelope(subject, headers, b"{}")
    assert env.event_type == "orders.order.placed"
    assert env.event_version == version


def test_structured_mode_cloudevent_is_read_like_binary_mode() -> None:
    doc = {
        "specversion": "1.0",
        "id": "s-1",
        "type": "orders.order.placed.v2",
        "source": "//java/svc",
        "tenantid": "t 1",
        "correlationid": "100%25 literal",
        "datacontenttype": "application/json",
        "data": {"order_id": "o1"},
    }
    headers = {"content-type": "application/cloudevents+json"}
    env = parse_envelope("x", headers, json.dumps(doc).encode())
    assert (env.event_type, env.event_version, env.event_id) == ("orders.order.placed", 2, "s-1")
    assert env.tenant_id == "t 1"
    assert env.correlation_id == "100%25 literal"  # body values are not percent-encoded
    assert env.data == {"order_id": "o1"}
    with pytest.raises(MissingEnvelopeFieldError, match="data_base64"):
        parse_envelope("x", headers, json.dumps({**doc, "data_base64": "e30="}).encode())
    with pytest.raises(MissingEnvelopeFieldError, match="ce-source"):
        parse_envelope("x", headers, json.dumps({**doc, "source": None}).encode())


def test_qx_envelope_with_headers_and_body() -> None:
    body = {
        "event_id": "q1",
        "event_name": "orders.order.placed",
        "event_version": 2,
        "occurred_at": "2026-01-01T00:00:00Z",
        "correlation_id": "c1",
        "causation_id": "p0",
        "tenant_id": "t1",
        "actor_id": "u1",
        "payload": {"order_id": "o1"},
    }
    headers = {"qx.event_name": "orders.order.placed", "qx.event_version": "2", "qx.event_id": "q1"}
    env = parse_envelope("legacy", headers, json.dumps(body).encode())
    assert env.format == "qx"
    assert (env.event_type, env.event_version, env.event_id) == ("orders.order.placed", 2, "q1")
    assert (env.correlation_id, env.causation_id, env.tenant_id) == ("c1", "p0", "t1")
    assert env.data == {"order_id": "o1"}
    # Without headers, the body alone identifies a Qx envelope.
    assert parse_envelope("legacy", None, json.dumps(body).encode()).event_id == "q1"


@pytest.mark.parametrize(
    ("headers", "body", "error"),
    [
        (CE, b"{oops", InvalidJsonError),
        (CE, b"\xff\xfe", InvalidJsonError),
        ({**CE, "ce-id": ""}, b"{}", MissingEnvelopeFieldError),
        ({k: v for k, v in CE.items() if k != "ce-source"}, b"{}", MissingEnvelopeFieldError),
        ({**CE, "ce-specversion": "0.3"}, b"{}", UnsupportedSpecVersionError),
        (CE, '{"a": 1}'.encode("utf-16"), InvalidJsonError),  # JSON is UTF-8 (RFC 8259)
        (CE, b'\xff\xfe{"a": 1}', InvalidJsonError),
        ({**CE, "ce-id": "p-%zz-%E0%A4"}, b"{}", InvalidPercentEncodingError),
        ({**CE, "ce-id": "p-%E0%A4"}, b"{}", InvalidPercentEncodingError),
        ({**CE, "ce-type": "orders%2"}, b"{}", InvalidPercentEncodingError),
        ({**CE, "ce-tenantid": "100%"}, b"{}", InvalidPercentEncodingError),
        ({}, b'{"hello": 1}', MissingEnvelopeFieldError),
        ({"qx.event_name": "a"}, b'{"payload": {}}', MissingEnvelopeFieldError),
        ({"qx.event_name": "a", "qx.event_id": "1"}, b"{}", MissingEnvelopeFieldError),
        ({"qx.event_name": "a", "qx.event_id": "1"}, b"[1]", MissingEnvelopeFieldError),
        ({**CE, "ce-qxversion": "\u00b2"}, b"{}", MissingEnvelopeFieldError),
        (
            {"qx.event_name": "a", "qx.event_id": "1", "qx.event_version": "\u0661"},
            b'{"payload": {}}',
            MissingEnvelopeFieldError,
        ),
    ],
)
def test_unusable_messages_raise_clear_poison_errors(
    headers: dict[str, str], body: bytes, error: type[PoisonMessageError]
) -> None:
    with pytest.raises(error) as info:
        parse_envelope("s", headers, body)
    assert info.value.message


@given(st.text())
def test_percent_encoding_round_trips_any_text(value: str) -> None:
    encoded = encode_value(value)
    assert encoded.isascii()
    assert " " not in encoded
    assert '"' not in encoded
    assert decode_value(encoded) == value


header_names = st.sampled_from(
    ["ce-specversion", "ce-id", "ce-type", "ce-source", "Ce-Id", "qx.event_name",
     "qx.event_id", "qx.event_version", "ce-qxversion", "ce-dataschema", "x-other"]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    subject=st.text(min_size=1, max_size=30),
    headers=st.dictionaries(header_names, st.text(max_size=20), max_size=6),
    body=st.one_of(
        st.binary(max_size=200),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=10),
            lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=4),
            max_leaves=10,
        ).map(lambda v: json.dumps(v).encode()),
    ),
)
def test_parser_never_fails_with_anything_but_a_poison_error(
    subject: str, headers: dict[str, str], body: bytes
) -> None:
    """Untrusted input: whatever arrives, the result is an Envelope or a PoisonMessageError."""
    try:
        env = parse_envelope(subject, headers, body)
    except PoisonMessageError as exc:
        assert exc.reason
        assert exc.message
    else:
        assert env.event_type
        assert env.event_id
        assert env.event_version is None or env.event_version >= 0
