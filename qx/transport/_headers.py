"""NATS header blocks: the raw ``NATS/1.0`` block of a stored message, and header pairs.

A name may repeat on the wire (multi-valued fields), so pairs, not dicts, carry headers between
the stored-message reader, the DLQ writer and replay. Encoding the CloudEvents header *values*
is the wire model's job (qx.events).

Why a hand-rolled header-block parser (``parse_header_block``): a stored message is read back
through JetStream's message-get API, which hands us the raw ``NATS/1.0`` block. nats-py's own
readers either keep only the last of repeated fields (``Msg.headers``) or run the block through
``email.parser`` (``get_msg``), which returns ``email.header.Header`` objects for non-ASCII
values and mangles nothing-special names. No maintained library parses the NATS block: the
format is "``Name: value`` lines, CRLF-separated, after a version line", so the parser is a few
lines, fuzzed in tests/unit/test_headers.py. It never raises on any input and keeps repeated
fields, their order and their spelling.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_VERSION_LINE = b"NATS/1.0"
# str.isspace() for the ASCII characters a decoded header name can hold.
_WHITESPACE = re.compile(r"[\t\n\x0b\x0c\r\x1c-\x1f ]")

HeaderPairs = list[tuple[str, str]]
"""Header fields in wire order; a name may repeat (multi-valued fields)."""


def parse_header_block(raw: bytes | None) -> HeaderPairs:
    """``NATS/1.0[ status]\\r\\nName: value\\r\\n...\\r\\n\\r\\n`` -> pairs, in order.

    Values are UTF-8 (invalid bytes become U+FFFD, as nats-py does) with surrounding blanks
    removed; lines without a colon, or whose name is empty, not ASCII or contains blanks, are
    skipped (the same names nats-py's reader accepts). A status
    on the version line (``NATS/1.0 404``) is not a field and is not returned.
    """
    if not raw:
        return []
    lines = raw.split(b"\r\n")
    if lines and lines[0].startswith(_VERSION_LINE):
        lines = lines[1:]
    return [(key, value) for key, value in header_fields(lines) if key]


def header_fields(lines: Iterable[bytes]) -> HeaderPairs:
    """``Name: value`` lines -> (name, value) pairs, by nats-py's rules (its
    ``Client._parse_header_lines``): split at the first colon, both sides stripped, names ASCII
    without whitespace (others skipped), values UTF-8 with U+FFFD for bad bytes. The one
    definition of a header line, for stored blocks and the hot path (``_fast_headers``)."""
    fields: HeaderPairs = []
    search = _WHITESPACE.search
    for line in lines:
        name, sep, value = line.partition(b":")
        if not sep:
            continue
        try:
            key = name.strip().decode("ascii")
        except UnicodeDecodeError:
            continue
        if search(key):
            continue
        fields.append((key, value.strip().decode("utf-8", "replace")))
    return fields


def build_header_block(pairs: Iterable[tuple[str, str]]) -> bytes:
    """The inverse of ``parse_header_block`` (CR/LF in values become spaces, like nats-py)."""
    out = bytearray(_VERSION_LINE + b"\r\n")
    for key, value in pairs:
        flat = value.replace("\r", " ").replace("\n", " ").strip()
        out += key.encode() + b": " + flat.encode() + b"\r\n"
    out += b"\r\n"
    return bytes(out)


def is_token(name: str) -> bool:
    """Whether nats-py will publish ``name`` (an RFC 9110 token); others raise BadHeaderError."""
    return _NAME.fullmatch(name) is not None


def last_values(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """One value per name (the last, as nats-py's ``Msg.headers``): for lookups, not copies."""
    return dict(pairs)


def as_pairs(headers: Mapping[str, str] | Sequence[tuple[str, str]] | None) -> HeaderPairs:
    if not headers:
        return []
    if isinstance(headers, Mapping):
        return [(str(k), str(v)) for k, v in headers.items()]
    return [(str(k), str(v)) for k, v in headers]


def publishable(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Pairs as the ``headers=`` dict nats-py publishes, keeping repeated fields.

    nats-py's publish takes one value per dict key, strips each key, and writes one
    ``key: value`` line per entry. A repeated name is therefore given trailing blanks to make it
    a distinct dict key that goes on the wire as the same name: the only way to send a
    multi-valued field through nats-py's public API. tests/runtime/test_dlq_headers.py checks
    the stored block on a real server, so a nats-py change that breaks this fails loudly
    (``BadHeaderError``) instead of silently dropping values.
    """
    out: dict[str, str] = {}
    for key, value in pairs:
        slot = key
        while slot in out:
            slot += " "
        out[slot] = value
    return out
