"""qx-worker 1.x names, still accepted: each use maps to the new name with one warning.

Code and deployments written for 1.x keep running (README "Coming from qx-worker 1.x"), and
the warning says exactly what to write instead. Nothing 1.x accepted is silently dropped:
a ``QX_NATS__*`` variable that has no counterpart is an error, not ignored.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from typing import Any

from qx.exceptions import ConfigurationError

LEGACY_ENV_PREFIX = "QX_NATS__"

# 1.x NatsSettings keyword -> NatsSettings field
NATS_RENAMES = {
    "servers": "url",
    "reconnect_time_wait_seconds": "reconnect_time_wait",
    "connect_timeout_seconds": "connect_timeout",
}

# 1.x NatsConsumer keyword -> (new keyword, where it lives now)
CONSUMER_RENAMES = {
    "durable_name": "durable",
    "subject_filter": "subjects",
    "ack_wait_seconds": "ack_wait",
}


def deprecated(old: str, new: str, *, stacklevel: int = 3) -> None:
    warnings.warn(
        f"{old} is the qx-worker 1.x spelling; use {new} (README: Coming from qx-worker 1.x)",
        DeprecationWarning,
        stacklevel=stacklevel,
    )


def legacy_nats_values(values: Mapping[str, Any], env_names: Mapping[str, str]) -> dict[str, Any]:
    """``NatsSettings`` keywords with 1.x names mapped, plus ``QX_NATS__*`` variables.

    Precedence: keywords, then ``NATS_*``, then ``QX_NATS__*``. One warning per old name
    even when it arrives twice (a 1.x settings class nesting ``NatsSettings`` reads
    ``QX_NATS__SERVERS`` itself and passes it as ``servers=``).
    """
    out = dict(values)
    warned: set[str] = set()
    for old, new in NATS_RENAMES.items():
        if old not in out:
            continue
        value = out.pop(old)
        if new in out:
            raise TypeError(f"NatsSettings got both {old}= (1.x) and {new}=; keep {new}=")
        out[new] = value
        deprecated(
            f"NatsSettings({old}=...) / {LEGACY_ENV_PREFIX}{old.upper()}",
            f"NatsSettings({new}=...) / {env_names[new]}",
            stacklevel=4,
        )
        warned.add(new)
    for key, raw in sorted(os.environ.items()):
        if not key.upper().startswith(LEGACY_ENV_PREFIX):
            continue
        old = key[len(LEGACY_ENV_PREFIX) :].lower()
        new = NATS_RENAMES.get(old, old)
        if new not in env_names:
            raise ConfigurationError(
                f"{key} is not a NATS setting (qx-worker 1.x name?); the settings are the "
                "NATS_* variables listed in the README; unset it"
            )
        if new not in warned:
            deprecated(key, env_names[new], stacklevel=4)
            warned.add(new)
        if new not in out and env_names[new] not in {k.upper() for k in os.environ}:
            out[new] = raw
    return out
