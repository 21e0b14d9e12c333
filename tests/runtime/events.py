"""Hand-written events for runtime tests (the generator has its own tests)."""

from __future__ import annotations

from typing import Any, ClassVar

from qx.core import Result
from qx.cqrs import integration_event_handler
from qx.events import IntegrationEvent

ORDER_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["order_id", "total"],
    "properties": {
        "order_id": {"type": "string", "minLength": 1},
        "total": {"type": "number", "minimum": 0},
    },
    "additionalProperties": False,
}


class OrderPlaced(IntegrationEvent):
    __qx_type__: ClassVar[str] = "orders.order.placed"
    __qx_version__: ClassVar[int] = 1

    order_id: str
    total: float


class UserRegistered(IntegrationEvent):
    __qx_type__: ClassVar[str] = "identity.user.registered"
    __qx_version__: ClassVar[int] = 1

    user_id: str
    email: str


def recording_handler(handled: list[str]) -> type[object]:
    """A handler of ``OrderPlaced`` that appends each order id to ``handled`` and succeeds."""

    @integration_event_handler(OrderPlaced)
    class Record:
        async def handle(self, event: OrderPlaced) -> Result[None]:
            handled.append(event.order_id)
            return Result.success(None)

    return Record
