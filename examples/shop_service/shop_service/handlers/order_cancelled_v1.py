"""Handles orders.order.cancelled v1: releases the order's stock reservation (here: logs it)."""

import logging

from qx.core import Result
from qx.cqrs import integration_event_handler

from ..integration.events import OrderCancelledV1

log = logging.getLogger(__name__)


@integration_event_handler(OrderCancelledV1)
class OrderCancelledV1Handler:
    """Releases reserved stock; a refund, if any, is the payments service's business."""

    async def handle(self, event: OrderCancelledV1) -> Result[None]:
        refund = (
            f", refund {event.refund.amount} {event.refund.currency.value}" if event.refund else ""
        )
        log.info(
            "order %s cancelled (%s%s): releasing its reservation",
            event.order_id,
            event.reason.value,
            refund,
        )
        return Result.success(None)
