"""Keep NATS credentials out of everything a person reads: logs, errors, CLI output.

A NATS URL may carry ``user:password@`` or ``token@``; nats-py and the server never need it
to be printed, and operators paste logs into tickets. Every place qx shows a URL goes
through ``redact_url``; text that may embed one (an exception message from a library)
goes through ``redact``. Hand-rolled because the job is one regular expression:
``urllib.parse`` would re-serialise (and so alter) URLs that are not valid, and a URL that
is not valid must still be hidden.
"""

from __future__ import annotations

import re

MASK = "***"

# scheme://userinfo@ — userinfo runs to the *last* '@' of the authority (greedy), so an
# unencoded '@' in a password is masked too.
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/\s,]+)@")


def _mask(match: re.Match[str]) -> str:
    userinfo = match.group("userinfo")
    user, sep, _secret = userinfo.partition(":")
    # nats://user:pass@ keeps the user (it names who failed); nats://token@ keeps nothing.
    shown = f"{user}:{MASK}" if sep else MASK
    return f"{match.group('scheme')}{shown}@"


def redact_url(url: str) -> str:
    """``nats://alice:s3cret@host:4222`` -> ``nats://alice:***@host:4222``; a comma-separated
    server list is redacted entry by entry; ``nats://tok@host`` -> ``nats://***@host``."""
    return _USERINFO.sub(_mask, url)


def redact(text: str, *secrets: str | None) -> str:
    """``text`` with URL credentials masked and each of ``secrets`` replaced by ``***``."""
    out = redact_url(text)
    for secret in secrets:
        if secret:
            out = out.replace(secret, MASK)
    return out
