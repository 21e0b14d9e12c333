"""Format hardening of the runtime schemas.

The runtime asserts ``format`` with jsonschema's format checker. For a few formats that
checker is laxer than the RFCs (``email`` only looks for an ``@``; ``uuid`` accepts a
trailing hyphen or non-ASCII digits). For those, the bundled runtime schema gets an equivalent
``pattern`` next to the ``format`` (inside ``allOf`` so an author's own pattern still holds).
Only the runtime schema is hardened; the Python models are unchanged.
"""

from __future__ import annotations

from typing import Any

from qxgen._bundle import SCHEMA_KEYWORDS, SCHEMA_LIST_KEYWORDS, SCHEMA_MAP_KEYWORDS

_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
# RFC 5321 Mailbox: dot-atom or quoted local part; domain, IPv4 or IPv6 address literal.
EMAIL = (
    rf"^(?:{_ATEXT}+(?:\.{_ATEXT}+)*|\"(?:[^\"\\\r\n]|\\.)*\")"
    rf"@(?:{_LABEL}(?:\.{_LABEL})*|\[{_OCTET}(?:\.{_OCTET}){{3}}\]|\[IPv6:[0-9A-Fa-f:.]+\])$(?!\n)"
)
# RFC 9562 string representation.
UUID = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$(?!\n)"

PATTERNS = {"email": EMAIL, "uuid": UUID}


def harden(node: Any) -> Any:
    """A copy of ``node`` with a ``pattern`` beside each hardened ``format``."""
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in SCHEMA_KEYWORDS:
            out[key] = harden(value)
        elif key in SCHEMA_LIST_KEYWORDS and isinstance(value, list):
            out[key] = [harden(v) for v in value]
        elif key in SCHEMA_MAP_KEYWORDS and isinstance(value, dict):
            out[key] = {k: harden(v) for k, v in value.items()}
        else:
            out[key] = value
    pattern = PATTERNS.get(node["format"]) if isinstance(node.get("format"), str) else None
    if pattern is not None:
        all_of = out.get("allOf")
        out["allOf"] = [*(all_of if isinstance(all_of, list) else []), {"pattern": pattern}]
    return out
