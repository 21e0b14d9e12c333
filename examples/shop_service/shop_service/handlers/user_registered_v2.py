"""Handles identity.user.registered v2. Created once by qxgen: this file is yours."""

from qx.core import Result
from qx.cqrs import integration_event_handler

from ..integration.events import UserRegisteredV2


@integration_event_handler(UserRegisteredV2)
class UserRegisteredV2Handler:
    """Ask for dependencies in ``__init__``; they are injected per message (see providers.py)."""

    async def handle(self, event: UserRegisteredV2) -> Result[None]:
        # Not implemented yet: fail without retrying, so the message waits in the DLQ and can
        # be replayed once this handler is written. Never ack what was not processed.
        return Result.failure(
            "handler for identity.user.registered v2 is not implemented yet: "
            "edit shop_service/handlers/user_registered_v2.py",
            retryable=False,
            code="not_implemented",
        )
