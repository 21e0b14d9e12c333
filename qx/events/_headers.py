"""Header helpers for the CloudEvents NATS binding.

NATS header names are case-sensitive on the wire, but producers in other languages write
``ce-id``, ``Ce-Id`` or ``CE-ID``; we match case-insensitively by lower-casing once per message.
``ce-*`` values are percent-encoded like the CloudEvents HTTP binding: space, ``"``, ``%`` and
anything outside printable ASCII are escaped (UTF-8 first). The stdlib's quote/unquote do that;
only the "safe" set is ours.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from urllib.parse import quote, unquote

# Printable ASCII except space, double quote and percent, which must be escaped.
_SAFE = "".join(c for c in string.printable if c not in ' "%\t\n\r\x0b\x0c')


def lower_keys(headers: Mapping[str, str] | None) -> dict[str, str]:
    if not headers:
        return {}
    return {k.lower(): v for k, v in headers.items()}


def encode_value(value: str) -> str:
    return quote(value, safe=_SAFE)


def decode_value(value: str) -> str:
    return unquote(value) if "%" in value else value
