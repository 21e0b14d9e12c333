"""Handles identity.user.registered v1: welcomes the new user (here: logs it)."""

import logging

from qx.core import RequestContext, Result
from qx.cqrs import integration_event_handler

from ..integration.events import UserRegisteredV1

log = logging.getLogger(__name__)


@integration_event_handler(UserRegisteredV1)
class UserRegisteredV1Handler:
    """Sends the welcome mail. The request context is injected per message."""

    def __init__(self, context: RequestContext) -> None:
        self._context = context

    async def handle(self, event: UserRegisteredV1) -> Result[None]:
        log.info(
            "welcome mail queued for %s <%s> (correlation %s)",
            event.display_name,
            event.email,
            self._context.correlation_id,
        )
        return Result.success(None)
