"""Events of the outbox tests."""

from __future__ import annotations

from qx.events import IntegrationEvent


class OrderCreated(IntegrationEvent):
    __qx_type__ = "shop.order.created"
    __qx_version__ = 1

    order_id: str
    seq: int = 0


class PaymentTaken(IntegrationEvent):
    __qx_type__ = "shop.payment.taken"
    __qx_version__ = 1

    order_id: str
