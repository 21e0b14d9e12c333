"""Events: the base class, the registry and the wire format (CloudEvents over NATS headers).

The NATS plumbing lives in qx.transport, which imports this package. The transport names that
were always importable from here (``NatsConsumer``, ``NatsSettings``, ...) still are, as the
very same objects: they are looked up in qx.transport on first use (PEP 562), so importing
qx.events alone never imports the transport and the two packages do not import each other at
load time.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from qx.events._base import EventMeta, IntegrationEvent, default_subject, event_meta
from qx.events._envelope import Envelope, OutgoingMessage, encode_cloudevent, parse_envelope
from qx.events._header_values import decode_value, decode_value_lenient, encode_value, lower_keys
from qx.events._registry import EventRegistry, RegisteredEvent

if TYPE_CHECKING:
    from qx.transport import (
        ConsumerSettings,
        NatsConsumer,
        NatsPublisher,
        NatsSettings,
        PullStats,
        connect_when_reachable,
        create_nats_connection,
        publish_with_retry,
    )

# Names re-exported from qx.transport (README and 1.x imports).
_TRANSPORT = frozenset(
    {
        "ConsumerSettings",
        "NatsConsumer",
        "NatsPublisher",
        "NatsSettings",
        "PullStats",
        "connect_when_reachable",
        "create_nats_connection",
        "publish_with_retry",
    }
)


if not TYPE_CHECKING:  # hidden from type checkers: a misspelt name must stay an error there

    def __getattr__(name: str) -> Any:
        if name in _TRANSPORT:
            value = getattr(importlib.import_module("qx.transport"), name)
            globals()[name] = value  # later lookups skip this function
            return value
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _TRANSPORT)


__all__ = [
    "ConsumerSettings",
    "Envelope",
    "EventMeta",
    "EventRegistry",
    "IntegrationEvent",
    "NatsConsumer",
    "NatsPublisher",
    "NatsSettings",
    "OutgoingMessage",
    "PullStats",
    "RegisteredEvent",
    "connect_when_reachable",
    "create_nats_connection",
    "decode_value",
    "decode_value_lenient",
    "default_subject",
    "encode_cloudevent",
    "encode_value",
    "event_meta",
    "lower_keys",
    "parse_envelope",
    "publish_with_retry",
]
