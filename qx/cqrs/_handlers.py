"""Marking a class as the handler of an integration event.

The decorator only records the event class on the handler; nothing global is mutated, so
which handlers run is decided where the ``Mediator`` is built, in one visible place.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar, runtime_checkable

from qx.core import Result
from qx.events import IntegrationEvent, event_meta

E_contra = TypeVar("E_contra", bound=IntegrationEvent, contravariant=True)
H = TypeVar("H", bound=type[Any])

_HANDLES = "__qx_handles__"


@runtime_checkable
class IntegrationEventHandler(Protocol[E_contra]):
    async def handle(self, event: E_contra) -> Result[None]: ...


def integration_event_handler(event_cls: type[IntegrationEvent]) -> Callable[[H], H]:
    """``@integration_event_handler(UserRegisteredV1)`` on a class with ``async def handle``."""
    event_meta(event_cls)  # fail at import time if the event class is not usable

    def mark(cls: H) -> H:
        if not callable(getattr(cls, "handle", None)):
            raise TypeError(f"{cls.__qualname__} needs an `async def handle(self, event)` method")
        setattr(cls, _HANDLES, event_cls)
        return cls

    return mark


def handled_event(handler_cls: type[Any]) -> type[IntegrationEvent]:
    event_cls = getattr(handler_cls, _HANDLES, None)
    if event_cls is None:
        raise TypeError(
            f"{handler_cls.__qualname__} is not decorated with @integration_event_handler(...)"
        )
    return event_cls  # type: ignore[no-any-return]
