"""Reading one stored message back from a stream, headers exactly as they were published.

Uses JetStream's ``STREAM.MSG.GET`` API directly rather than nats-py's ``get_msg``: the latter
parses the header block with ``email.parser`` and can return ``email.header.Header`` objects
(non-ASCII values) or drop repeated fields; here the raw block goes through
``parse_header_block``, which returns strings only and keeps every field.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

import nats.js.errors
from nats.aio.client import Client

from qx.transport._headers import HeaderPairs, last_values, parse_header_block

JS_API = "$JS.API"
_ERRORS: dict[int, type[nats.js.errors.APIError]] = {
    404: nats.js.errors.NotFoundError,
    503: nats.js.errors.ServiceUnavailableError,
    400: nats.js.errors.BadRequestError,
}


@dataclass(frozen=True, slots=True)
class StoredMessage:
    subject: str
    seq: int
    headers: HeaderPairs  # wire order, repeated names kept
    data: bytes

    @property
    def header_map(self) -> dict[str, str]:
        """One value per name, for lookups."""
        return last_values(self.headers)


def _b64(value: Any) -> bytes:
    if not value:
        return b""
    try:
        return base64.b64decode(value)
    except (binascii.Error, TypeError, ValueError):
        return b""


async def get_stored(
    nc: Client,
    stream: str,
    seq: int,
    *,
    next_matching: str | None = None,
    timeout: float = 5.0,
    api_prefix: str = JS_API,
) -> StoredMessage:
    """The message at ``seq`` (or, with ``next_matching``, the first at or after ``seq`` whose
    subject matches that filter, e.g. ``">"``).

    Raises ``nats.js.errors.NotFoundError`` if there is none, another ``APIError`` if the server
    refuses, and nats-py's timeout/no-responders errors if the stream is unavailable.
    """
    req: dict[str, Any] = {"seq": seq}
    if next_matching is not None:
        req["next_by_subj"] = next_matching
    resp = await nc.request(
        f"{api_prefix}.STREAM.MSG.GET.{stream}", json.dumps(req).encode(), timeout=timeout
    )
    doc = json.loads(resp.data)
    if "error" in doc:
        err = doc["error"]
        kind = _ERRORS.get(err.get("code"), nats.js.errors.APIError)
        raise kind(
            code=err.get("code"), err_code=err.get("err_code"), description=err.get("description")
        )
    msg = doc["message"]
    return StoredMessage(
        subject=str(msg.get("subject", "")),
        seq=int(msg.get("seq", seq)),
        headers=parse_header_block(_b64(msg.get("hdrs"))),
        data=_b64(msg.get("data")),
    )
