"""Handles payments.payment.captured v1: books the payment in the ledger, marks the order paid.

The ledger here is a stand-in that logs. Its CHF book is closed for maintenance, so a CHF capture
fails with a *retryable* error: the worker retries it with backoff and dead-letters it once the
deliveries run out, from where ``qxgen dlq replay`` sends it back after the ledger reopens.
``make demo`` publishes one such capture to show that path.
"""

import logging

from qx.core import Result
from qx.cqrs import integration_event_handler

from ..integration.events import Card, PaymentCapturedV1

log = logging.getLogger(__name__)

# Currencies whose ledger book is closed for maintenance (a transient, retryable condition).
LEDGER_IN_MAINTENANCE = frozenset({"CHF"})


@integration_event_handler(PaymentCapturedV1)
class PaymentCapturedV1Handler:
    """Marks the order as paid once the ledger has booked the money."""

    async def handle(self, event: PaymentCapturedV1) -> Result[None]:
        currency = event.amount.currency.value
        if currency in LEDGER_IN_MAINTENANCE:
            return Result.failure(
                f"ledger for {currency} is unavailable (maintenance window); "
                f"payment {event.payment_id} not booked yet",
                retryable=True,
                code="ledger_unavailable",
            )
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
            currency,
            paid_with,
        )
        return Result.success(None)
