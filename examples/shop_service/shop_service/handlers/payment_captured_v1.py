"""Handles payments.payment.captured v1: marks the order paid (here: logs it)."""

import logging

from qx.core import Result
from qx.cqrs import integration_event_handler

from ..integration.events import Card, PaymentCapturedV1

log = logging.getLogger(__name__)


@integration_event_handler(PaymentCapturedV1)
class PaymentCapturedV1Handler:
    """Marks the order as paid."""

    async def handle(self, event: PaymentCapturedV1) -> Result[None]:
        method = event.method
        paid_with = (
            f"{method.brand.value} card *{method.last4}"
            if isinstance(method, Card)
            else f"bank transfer *{method.iban_last4}"
        )
        log.info(
            "order %s paid: %s %s with %s",
            event.order_id,
            event.amount.amount,
            event.amount.currency.value,
            paid_with,
        )
        return Result.success(None)
