"""Settle: carry out a decision on the wire. Returns what was actually done.

Ack and nak are one fire-and-forget publish each. A dead letter is written (PubAck awaited)
before the original is terminated; if the write fails the message is nak'd instead, with the
delay ``after_dead_letter_failure`` decides, and the advisory path takes over (facts §2).
"""

from __future__ import annotations

import logging

from qx.worker._dead_letter import DeadLetterWriter
from qx.worker._decision import (
    Ack,
    DeadLetter,
    Decision,
    Nak,
    Outcome,
    after_dead_letter_failure,
)
from qx.worker._facts import Delivery
from qx.worker._settings import RetryPolicy

log = logging.getLogger("qx.worker")


class Settler:
    def __init__(self, writer: DeadLetterWriter, retry: RetryPolicy) -> None:
        self.writer = writer
        self.retry = retry

    async def settle(
        self,
        d: Delivery,
        decision: Decision,
        outcome: Outcome,
        max_deliver: int,
        trace_id: str | None,
    ) -> tuple[Decision, bool | None]:
        """(the decision carried out, whether a DLQ record was written or None if n/a)."""
        if isinstance(decision, Ack):
            await d.msg.ack()
            return decision, None
        if isinstance(decision, Nak):
            await d.msg.nak(delay=decision.delay or None)
            return decision, None
        return await self._dead_letter(d, decision, outcome, max_deliver, trace_id)

    async def _dead_letter(
        self,
        d: Delivery,
        decision: DeadLetter,
        outcome: Outcome,
        max_deliver: int,
        trace_id: str | None,
    ) -> tuple[Decision, bool]:
        try:
            await self.writer.write(
                subject=d.subject,
                headers=d.msg.headers,
                body=d.body,
                stream=d.stream,
                seq=d.seq,
                attempts=d.delivered,
                reason=decision.reason,
                error_type=outcome.error_type,
                error_message=outcome.message,
                origin="worker",
                trace_id=trace_id,
                exc=outcome.exception,
                final=0 < max_deliver <= d.delivered,
            )
        except Exception as exc:
            # Not stored: do not term. Nak so it is retried, or (last delivery) so the
            # max-deliveries advisory fires and that path records it.
            nak = after_dead_letter_failure(d.delivered, max_deliver, self.retry)
            log.error(
                "DLQ write for %s seq %d failed (%s: %s); nak'd with %.1fs delay, the advisory "
                "path will record it if deliveries run out",
                d.subject,
                d.seq,
                type(exc).__name__,
                exc,
                nak.delay,
            )
            await d.msg.nak(delay=nak.delay or None)
            return nak, False
        await self.writer.terminate(d.msg, decision.reason)
        return decision, True
