"""A faster parser for NATS header blocks, installed on the connections qx opens itself.

Hand-rolled because nats-py 2.16's ``_parse_header_lines`` tests every character of every
header name with a Python generator (``any(c.isspace() for c in key)``): ~20 µs for the dozen
headers of a CloudEvents message with a ``traceparent``, more than all of qx's own decoding
(bench/). This parser keeps nats-py's rules exactly (``_headers.header_fields``, the one
definition of a header line, shared with the stored-block reader; tests/unit/test_fast_headers.py
checks it against nats-py's own function with generated input) and does the whitespace test
with one regular-expression search.

Only plain header blocks take this path. Status messages (``NATS/1.0 408 ...``) go to
nats-py's own code, and nothing is installed when nats-py uses ``fast_mail_parser``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import nats.aio.client as nats_client
from nats.aio.client import Client

from qx.transport._headers import header_fields

_CRLF = b"\r\n"
_PREFIX_LEN = len(b"NATS/1.0")
_SPACE = 32


def parse_header_lines(raw: bytes) -> dict[str, str]:
    """``Name: Value`` lines -> dict, exactly as nats-py's ``Client._parse_header_lines``."""
    return dict(header_fields(raw.split(_CRLF)))


HeaderProcessor = Callable[[bytes], Awaitable[dict[str, str] | None]]


def fast_process_headers(original: HeaderProcessor) -> HeaderProcessor:
    """A drop-in for ``Client._process_headers`` that handles plain header blocks itself."""

    async def process_headers(headers: bytes) -> dict[str, str] | None:
        if not headers or len(headers) <= _PREFIX_LEN or headers[_PREFIX_LEN] == _SPACE:
            return await original(headers)  # empty, or a status line: nats-py's own rules
        if len(headers) - _PREFIX_LEN <= len(_CRLF):
            return None
        return parse_header_lines(headers[_PREFIX_LEN + len(_CRLF) :]) or None

    return process_headers


def install(nc: Client) -> bool:
    """Use the fast parser for messages on ``nc``; False if nats-py parses differently."""
    if getattr(nats_client, "parse_email", None) is not None:
        return False
    original: Any = nc._process_headers
    if getattr(original, "__qx_fast__", False):
        return True
    replacement: Any = fast_process_headers(original)
    replacement.__qx_fast__ = True
    nc._process_headers = replacement  # type: ignore[method-assign]
    return True
