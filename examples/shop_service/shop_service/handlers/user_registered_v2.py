"""Handles identity.user.registered v2: welcomes the new user in their locale (here: logs it)."""

import logging

from qx.core import RequestContext, Result
from qx.cqrs import integration_event_handler

from ..integration.events import UserRegisteredV2

log = logging.getLogger(__name__)


@integration_event_handler(UserRegisteredV2)
class UserRegisteredV2Handler:
    """Sends the welcome mail; v2 knows the locale and the marketing consent."""

    def __init__(self, context: RequestContext) -> None:
        self._context = context

    async def handle(self, event: UserRegisteredV2) -> Result[None]:
        log.info(
            "welcome mail (%s%s) queued for %s <%s> (correlation %s)",
            event.locale,
            ", with newsletter" if event.marketing_opt_in else "",
            event.given_name,
            event.email,
            self._context.correlation_id,
        )
        return Result.success(None)
