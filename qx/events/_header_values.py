"""The CloudEvents NATS binding's header values.

Header names are case-sensitive on the wire, but producers in other languages write ``ce-id``,
``Ce-Id`` or ``CE-ID``; we match case-insensitively by lower-casing once per message.
``ce-*`` values are percent-encoded like the CloudEvents HTTP binding: space, ``"``, ``%`` and
anything outside printable ASCII are escaped (UTF-8 first). The stdlib's quote/unquote do that;
only the "safe" set, and refusing malformed escapes instead of guessing, are ours.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from urllib.parse import quote, unquote_to_bytes

from qx.exceptions import InvalidPercentEncodingError

# Printable ASCII except space, double quote and percent, which must be escaped.
_SAFE = "".join(c for c in string.printable if c not in ' "%\t\n\r\x0b\x0c')
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


def lower_keys(headers: Mapping[str, str] | None) -> dict[str, str]:
    if not headers:
        return {}
    return {k.lower(): v for k, v in headers.items()}


def encode_value(value: str) -> str:
    return quote(value, safe=_SAFE)


def decode_value(value: str) -> str:
    """Percent-decode a ``ce-*`` value; raises ``InvalidPercentEncodingError`` (poison) for a
    ``%`` not followed by two hex digits or escapes that are not UTF-8, instead of silently
    turning them into U+FFFD and changing an id."""
    if "%" not in value:
        return value
    bad = _BAD_ESCAPE.search(value)
    if bad:
        raise InvalidPercentEncodingError(
            f"invalid percent-encoding {value[bad.start() : bad.start() + 3]!r} in header value "
            f"{value[:120]!r}; escape '%' as %25 (CloudEvents NATS binding)"
        )
    try:
        return unquote_to_bytes(value).decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidPercentEncodingError(
            f"percent-escapes in header value {value[:120]!r} do not decode as UTF-8; encode "
            "the text as UTF-8 before escaping it"
        ) from None


def decode_value_lenient(value: str) -> str:
    """For display only (``qxgen dlq``): a malformed value is shown as it is."""
    try:
        return decode_value(value)
    except InvalidPercentEncodingError:
        return value
