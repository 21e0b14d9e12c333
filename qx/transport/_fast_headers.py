"""A faster parser for NATS header blocks, installed on the connections qx opens itself.

Hand-rolled because nats-py 2.16's ``_parse_header_lines`` tests every character of every
header name with a Python generator (``any(c.isspace() for c in key)``): ~20 µs for the dozen
headers of a CloudEvents message with a ``traceparent``, more than all of qx's own decoding
(bench/). This parser keeps nats-py's rules exactly (same splitting, stripping, decoding and
skipping; tests/unit/test_fast_headers.py checks it against nats-py's own function with
generated input) and does the whitespace test with one regular-expression search.

Only plain header blocks take this path. Status messages (``NATS/1.0 408 ...``) go to
nats-py's own code, and nothing is installed when nats-py uses ``fast_mail_parser``.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

import nats.aio.client as nats_client
from nats.aio.client import Client

_CRLF = b"\r\n"
_PREFIX_LEN = len(b"NATS/1.0")
_SPACE = 32
# str.isspace() for the ASCII characters a decoded header name can hold.
_WHITESPACE = re.compile(r"[\t\n\x0b\x0c\r\x1c-\x1f ]")


def parse_header_lines(raw: bytes) -> dict[str, str]:
    """``Name: Value`` lines -> dict, exactly as nats-py's ``Client._parse_header_lines``."""
    out: dict[str, str] = {}
    search = _WHITESPACE.search
    for line in raw.split(_CRLF):
        if not line:
            continue
        name, sep, value = line.partition(b":")
        if not sep:
            continue
        try:
            key = name.strip().decode("ascii")
        except UnicodeDecodeError:
            continue
        if search(key):
            continue
        out[key] = value.strip().decode("utf-8", "replace")
    return out


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
