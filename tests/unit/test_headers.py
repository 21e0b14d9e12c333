"""The NATS header-block parser and the DLQ record layouts: pure functions, fuzzed."""

from __future__ import annotations

import contextlib
import json
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qx import dlq
from qx.events import EventRegistry, decode_value, encode_value
from qx.events._envelope import parse_envelope
from qx.exceptions import InvalidPercentEncodingError, PoisonMessageError
from qx.transport import build_header_block, parse_header_block, publishable
from tests.runtime.events import ORDER_SCHEMA, OrderPlaced

REGISTRY = EventRegistry()
REGISTRY.register(OrderPlaced, schema=ORDER_SCHEMA)

TOKEN_CHARS = "!#$%&'*+-.^_`|~0123456789" + string.ascii_letters
TOKEN = st.text(alphabet=TOKEN_CHARS, min_size=1, max_size=12)
# Values as they survive the wire: no CR/LF, no surrounding blanks.
VALUE = st.text(max_size=30).map(lambda v: v.replace("\r", " ").replace("\n", " ").strip())


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=400))
def test_parser_takes_any_bytes_and_returns_only_strings(raw: bytes) -> None:
    pairs = parse_header_block(raw)
    for key, value in pairs:
        assert type(key) is str
        assert type(value) is str
        assert key
        assert key.isascii()
        assert not any(c.isspace() for c in key)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(TOKEN, VALUE), max_size=8))
def test_block_round_trips_repeated_odd_cased_and_non_ascii_fields(
    pairs: list[tuple[str, str]],
) -> None:
    assert parse_header_block(build_header_block(pairs)) == pairs


def test_parser_keeps_repeats_order_case_and_utf8_and_skips_status_and_junk() -> None:
    raw = (
        b"NATS/1.0 503\r\nX-Multi: one\r\nx-multi: two\r\nX-Multi:three\r\n"
        b"X-Note: zo\xc3\xab \xe2\x9c\x93\r\nbad line\r\nbad name: x\r\n\xff: y\r\n"
        b"X-Broken: \xff\xfe\r\n\r\n"
    )
    assert parse_header_block(raw) == [
        ("X-Multi", "one"),
        ("x-multi", "two"),
        ("X-Multi", "three"),
        ("X-Note", "zoë ✓"),
        ("X-Broken", "\ufffd\ufffd"),
    ]


def test_publishable_keeps_repeated_names_as_distinct_keys() -> None:
    out = publishable([("X-A", "1"), ("X-A", "2"), ("x-a", "3")])
    assert list(out.values()) == ["1", "2", "3"]
    assert [k.strip() for k in out] == ["X-A", "X-A", "x-a"]


@pytest.mark.parametrize(
    "value", ["p-%zz", "%E0%A4", "100%", "%", "a%2", "%C3%28", "%ff%fe"]
)  # fmt: skip
def test_malformed_percent_encoding_is_refused(value: str) -> None:
    with pytest.raises(InvalidPercentEncodingError) as info:
        decode_value(value)
    assert info.value.reason == "invalid_percent_encoding"


@given(st.text(max_size=40))
def test_decode_value_raises_nothing_but_the_poison_error(value: str) -> None:
    with contextlib.suppress(InvalidPercentEncodingError):
        decode_value(value)
    assert decode_value(encode_value(value)) == value


# -- the envelope decoder, fed raw header blocks --------------------------------------------------

CE_NAMES = ["ce-specversion", "ce-id", "ce-type", "ce-source", "CE-ID", "Ce-Type", "ce-qxversion",
            "ce-correlationid", "ce-tenantid", "ce-dataschema", "qx.event_name", "qx.event_id",
            "content-type", "X-Note"]  # fmt: skip
CE_VALUES = st.one_of(
    st.sampled_from(
        [
            "1.0",
            "0.3",
            "2.0",
            "",
            "e1",
            "orders.order.placed",
            "%zz",
            "%E0%A4",
            "a%20b",
            "7",
            "v2",
            "zoë",
        ]
    ),
    st.text(max_size=12),
)


@st.composite
def header_blocks(draw: st.DrawFn) -> bytes:
    pairs = draw(st.lists(st.tuples(st.sampled_from(CE_NAMES), CE_VALUES), max_size=8))
    block = build_header_block(pairs)
    if draw(st.booleans()):  # and some damage
        junk = draw(st.binary(max_size=20))
        cut = draw(st.integers(0, len(block)))
        block = block[:cut] + junk + block[cut:]
    return block


BODIES = st.one_of(
    st.binary(max_size=120),
    st.sampled_from(
        [
            b"",
            b"{not json",
            b"null",
            b"[]",
            b'{"order_id": "x", "total": 1}',
            b"\xff\xfe",
            b"{" * 2000,
            json.dumps({"data": 1}).encode(),
        ]
    ),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=8),
        lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=4),
        max_leaves=8,
    ).map(lambda v: json.dumps(v).encode()),
)


@settings(max_examples=400, deadline=None)
@given(block=header_blocks(), body=BODIES, subject=st.text(min_size=1, max_size=20))
def test_envelope_decoder_on_raw_blocks_raises_only_poison_errors(
    block: bytes, body: bytes, subject: str
) -> None:
    """What the worker does before dispatch: decode, then build the typed event."""
    headers = dict(parse_header_block(block))
    try:
        env = parse_envelope(subject, headers, body)
        REGISTRY.build(env.event_type, env.event_version, env.data)
    except PoisonMessageError as exc:
        assert exc.reason
        assert exc.message
    else:
        assert env.event_id
        assert env.event_type


# -- record layouts -------------------------------------------------------------------------------

FACTS = dlq.build_facts(
    subject="s.orders",
    stream="S",
    seq=7,
    consumer="c",
    attempts=3,
    reason="invalid_json",
    error_type="InvalidJsonError",
    error_message="bad",
    origin="worker",
    traceback_text='Traceback:\n  File "x.py"\nValueError: "zoë"',
)


@settings(max_examples=200, deadline=None)
@given(pairs=st.lists(st.tuples(TOKEN, VALUE), max_size=6), body=st.binary(max_size=64))
def test_every_layout_reads_back_the_original(pairs: list[tuple[str, str]], body: bytes) -> None:
    pairs = [(k, v) for k, v in pairs if k.lower() not in dlq.DROP and not k.startswith("Qx-")]
    for index, (headers, data) in enumerate(dlq.record_layouts(pairs, body, FACTS)):
        on_wire = parse_header_block(build_header_block(headers.items()))  # as a reader sees it
        record = dlq.parse_record(1, on_wire, data)
        assert record.reason == "invalid_json"
        assert record.stream_seq == 7
        assert record.traceback == 'Traceback:\n  File "x.py"\nValueError: "zoë"'
        if index < 2:  # inline, in-body
            assert record.headers == pairs
            assert record.body == body
            assert not record.payload_omitted
        elif index == 2:
            assert record.headers == pairs
            assert record.payload_omitted
            assert record.body == b""
        else:
            assert record.headers_omitted
            assert record.payload_omitted


def test_traceback_is_bounded_to_its_innermost_part() -> None:
    def deep(n: int) -> None:
        if n:
            deep(n - 1)
        raise ValueError("the real cause")

    try:
        deep(200)
    except ValueError as exc:
        text = dlq.format_traceback(exc)
    assert text is not None
    assert len(text) <= dlq.MAX_TRACEBACK
    assert text.endswith("ValueError: the real cause")


def test_a_damaged_record_is_read_not_refused() -> None:
    record = dlq.parse_record(
        3,
        [(dlq.H_HEADERS, "in-body"), (dlq.H_HEADERS_LENGTH, "x"), (dlq.H_TRACEBACK, "{")],
        b"\x00",
    )
    assert record.body == b"\x00"
    assert record.traceback == "{"
