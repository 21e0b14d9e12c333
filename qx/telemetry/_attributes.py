"""OpenTelemetry messaging semantic-convention attribute names shared by producer and consumer.

Spelled out here rather than imported from opentelemetry-semantic-conventions, which is an SDK-side
package we do not want as a runtime dependency.
"""

from __future__ import annotations

MESSAGING_SYSTEM = "messaging.system"
MESSAGING_OPERATION_TYPE = "messaging.operation.type"
MESSAGING_OPERATION_NAME = "messaging.operation.name"
MESSAGING_DESTINATION = "messaging.destination.name"
MESSAGING_CONSUMER_GROUP = "messaging.consumer.group.name"
MESSAGING_MESSAGE_ID = "messaging.message.id"
MESSAGING_CONVERSATION_ID = "messaging.message.conversation_id"
MESSAGING_BODY_SIZE = "messaging.message.body.size"
MESSAGING_DELIVERY_COUNT = "messaging.nats.message.delivery_count"
MESSAGING_STREAM_SEQ = "messaging.nats.stream.sequence"
CLOUDEVENTS_ID = "cloudevents.event_id"
CLOUDEVENTS_TYPE = "cloudevents.event_type"
CLOUDEVENTS_SOURCE = "cloudevents.event_source"
TENANT_ID = "qx.tenant_id"
SETTLEMENT = "qx.settlement"
ERROR_TYPE = "error.type"
SERVER_ADDRESS = "server.address"
SERVER_PORT = "server.port"
SYSTEM_NATS = "nats"
