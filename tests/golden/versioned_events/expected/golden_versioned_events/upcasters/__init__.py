"""Upcasters of golden_versioned_events. Created once by qxgen: this file is yours to edit.

An upcaster turns an older version of an event into the next one before dispatch, so the
newer handler also receives the older messages. The generated registry calls
``register_upcasters``; register each upcaster here once its function is written (until then
the older messages keep going to their own handler).
"""

from qx.events import EventRegistry


def register_upcasters(registry: EventRegistry) -> None:
    """Uncomment a line once its upcaster is written."""
    # from ..integration.events import AccountOpenedV1, AccountOpenedV2
    # from .account_opened_v1_to_v2 import upcast as account_opened_v1_to_v2
    # registry.register_upcaster(AccountOpenedV1, AccountOpenedV2, account_opened_v1_to_v2)
