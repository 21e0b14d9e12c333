"""Handles drafts.six v1. Created once by qxgen: this file is yours."""

from qx.core import Result
from qx.cqrs import integration_event_handler

from ..integration.events import DraftsSixV1


@integration_event_handler(DraftsSixV1)
class DraftsSixV1Handler:
    """Ask for dependencies in ``__init__``; they are injected per message (see providers.py)."""

    async def handle(self, event: DraftsSixV1) -> Result[None]:
        # Not implemented yet: fail without retrying, so the message waits in the DLQ and can
        # be replayed once this handler is written. Never ack what was not processed.
        return Result.failure(
            "handler for drafts.six v1 is not implemented yet: "
            "edit expected/golden_drafts/handlers/drafts_six_v1.py",
            retryable=False,
            code="not_implemented",
        )
