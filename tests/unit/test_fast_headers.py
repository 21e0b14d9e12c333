"""qx's NATS header parser gives exactly what nats-py's own parser gives."""

from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st
from nats.aio.client import Client

from qx.transport._fast_headers import fast_process_headers, install, parse_header_lines

# Bytes that matter to the parser: separators, whitespace of all kinds, non-ASCII, UTF-8.
_ALPHABET = [b":", b" ", b"\t", b"\r", b"\n", b"\r\n", b"\x0b", b"\x1c", b"\x1f", b"a", b"Z",
             b"-", b"%", b"\xc3\xa9", b"\xff", b"\x80", b"ce-id", b"traceparent", b"0"]  # fmt: skip
_blocks = st.lists(st.sampled_from(_ALPHABET), max_size=40).map(b"".join)


@settings(max_examples=2000)
@given(_blocks)
def test_same_result_as_nats_py(raw: bytes) -> None:
    assert parse_header_lines(raw) == Client._parse_header_lines(raw)


def _process(processor: object, headers: bytes) -> object:
    return asyncio.run(processor(headers))  # type: ignore[operator]


@settings(max_examples=300, deadline=None)
@given(_blocks)
def test_whole_block_same_as_nats_py(raw: bytes) -> None:
    nc = Client()
    fast = fast_process_headers(nc._process_headers)
    for headers in (b"NATS/1.0\r\n" + raw, b"NATS/1.0" + raw):
        if headers[8:9] in (b" ", b""):
            continue  # status lines (and a bare prefix) are passed to nats-py itself
        assert _process(fast, headers) == _process(nc._process_headers, headers)


def test_real_cloudevent_headers_and_status_lines() -> None:
    nc = Client()
    fast = fast_process_headers(nc._process_headers)
    block = (
        b"NATS/1.0\r\nce-specversion: 1.0\r\nce-tenantid: acme%20corp\r\n"
        b"Nats-Msg-Id: x1\r\ntraceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        b"\r\n\r\n"
    )
    assert _process(fast, block) == _process(nc._process_headers, block)
    assert _process(fast, block)["ce-tenantid"] == "acme%20corp"  # type: ignore[index]
    status = b"NATS/1.0 408 Request Timeout\r\nNats-Pending-Messages: 4\r\n\r\n"
    assert _process(fast, status) == _process(nc._process_headers, status)
    assert _process(fast, b"") is None
    assert _process(fast, b"NATS/1.0\r\n\r\n") == _process(nc._process_headers, b"NATS/1.0\r\n\r\n")


def test_install_is_idempotent() -> None:
    nc = Client()
    assert install(nc)
    first = nc._process_headers
    assert install(nc)
    assert nc._process_headers is first
