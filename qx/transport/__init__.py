"""NATS JetStream transport: connecting, provisioning, the consumer's continuous pull,
publishing, and reading stored messages and their raw header blocks.

The wire model it carries (events, the CloudEvents envelope, the registry) is qx.events';
this package imports it only through ``qx.events``. qx.events re-exports the documented names
from here (``NatsConsumer``, ``NatsSettings``, ...) so 1.x and README imports keep working.
"""

from qx.transport._connection import (
    connect_when_reachable,
    create_nats_connection,
    jetstream_advertised,
)
from qx.transport._consumer import NatsConsumer
from qx.transport._headers import (
    HeaderPairs,
    as_pairs,
    build_header_block,
    is_token,
    last_values,
    parse_header_block,
    publishable,
)
from qx.transport._provision import ensure_dlq, provision
from qx.transport._publisher import NatsPublisher, check_size, publish_with_retry
from qx.transport._pull import PullStats, leader_elected_subject
from qx.transport._settings import ConsumerSettings, NatsSettings
from qx.transport._stored import StoredMessage, get_stored

__all__ = [
    "ConsumerSettings",
    "HeaderPairs",
    "NatsConsumer",
    "NatsPublisher",
    "NatsSettings",
    "PullStats",
    "StoredMessage",
    "as_pairs",
    "build_header_block",
    "check_size",
    "connect_when_reachable",
    "create_nats_connection",
    "ensure_dlq",
    "get_stored",
    "is_token",
    "jetstream_advertised",
    "last_values",
    "leader_elected_subject",
    "parse_header_block",
    "provision",
    "publish_with_retry",
    "publishable",
]
