"""Handles orders.order.placed v1: reserves stock for each line (here: logs it)."""

import logging

from qx.core import Result
from qx.cqrs import integration_event_handler

from ..integration.events import OrderPlacedV1

log = logging.getLogger(__name__)


@integration_event_handler(OrderPlacedV1)
class OrderPlacedV1Handler:
    """Reserves stock; an empty reservation can never succeed, so it is not retried."""

    async def handle(self, event: OrderPlacedV1) -> Result[None]:
        units = sum(line.quantity for line in event.lines)
        log.info(
            "order %s: reserving %d unit(s) of %d sku(s), total %s %s, ship to %s",
            event.order_id,
            units,
            len(event.lines),
            event.total.amount,
            event.total.currency.value,
            event.shipping_address.country,
        )
        return Result.success(None)
