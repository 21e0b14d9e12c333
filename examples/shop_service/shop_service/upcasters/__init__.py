"""Upcasters of shop-service. Created once by qxgen: this file is yours to edit.

An upcaster turns an older version of an event into the next one before dispatch, so the
newer handler also receives the older messages. The generated registry calls
``register_upcasters``; register each upcaster here once its function is written (until then
the older messages keep going to their own handler).
"""

from qx.events import EventRegistry


def register_upcasters(registry: EventRegistry) -> None:
    """Uncomment a line once its upcaster is written."""
    # from ..integration.events import UserRegisteredV1, UserRegisteredV2
    # from .user_registered_v1_to_v2 import upcast as user_registered_v1_to_v2
    # registry.register_upcaster(UserRegisteredV1, UserRegisteredV2, user_registered_v1_to_v2)
