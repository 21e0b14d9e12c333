"""Events: the base class, the registry, the wire format and the NATS plumbing."""

from qx.events._base import EventMeta, IntegrationEvent, default_subject, event_meta
from qx.events._connection import connect_when_reachable, create_nats_connection
from qx.events._consumer import NatsConsumer
from qx.events._envelope import Envelope, OutgoingMessage, encode_cloudevent, parse_envelope
from qx.events._publisher import NatsPublisher, publish_with_retry
from qx.events._pull import PullStats, leader_elected_subject
from qx.events._registry import EventRegistry, RegisteredEvent
from qx.events._settings import ConsumerSettings, NatsSettings

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
    "default_subject",
    "encode_cloudevent",
    "event_meta",
    "leader_elected_subject",
    "parse_envelope",
    "publish_with_retry",
]
