"""Dispatches an event to its handlers, resolving each handler from the per-message DI scope."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol, TypeVar, runtime_checkable

from qx.core import Error, Result
from qx.cqrs._handlers import handled_event
from qx.events import IntegrationEvent

T = TypeVar("T")


@runtime_checkable
class Resolver(Protocol):
    """What the mediator needs from a DI scope: build an object of a type."""

    async def get(self, dependency_type: type[T]) -> T: ...


class Mediator:
    """Holds the handler classes per event class.

    Several handlers may subscribe to one event; all must succeed for the message to be acked
    (and all run again on redelivery, so handlers must be idempotent, as with any
    at-least-once delivery).
    """

    def __init__(self, handlers: Iterable[type[Any]] = ()) -> None:
        self._handlers: dict[type[IntegrationEvent], list[type[Any]]] = {}
        for handler in handlers:
            self.register(handler)

    def register(self, handler_cls: type[Any]) -> None:
        event_cls = handled_event(handler_cls)
        registered = self._handlers.setdefault(event_cls, [])
        if handler_cls not in registered:
            registered.append(handler_cls)

    @property
    def handler_classes(self) -> list[type[Any]]:
        return [h for hs in self._handlers.values() for h in hs]

    def handlers_for(self, event_cls: type[IntegrationEvent]) -> list[type[Any]]:
        return list(self._handlers.get(event_cls, ()))

    async def consume_integration(
        self, event: IntegrationEvent, resolver: Resolver | None = None
    ) -> Result[None]:
        """Run every handler of ``event``; the first failure is returned.

        No handler registered is a deployment mistake, not a transient fault: a non-retryable
        failure, so the message waits in the DLQ until a fixed build replays it.
        """
        handlers = self._handlers.get(type(event))
        if not handlers:
            return Result.failure(
                Error(
                    "no_handler",
                    f"no handler registered for {type(event).__qualname__}; register one with "
                    "@integration_event_handler and add it to the Mediator",
                    retryable=False,
                )
            )
        for handler_cls in handlers:
            handler = await resolver.get(handler_cls) if resolver else handler_cls()
            result = await handler.handle(event)
            if not isinstance(result, Result):
                return Result.failure(
                    Error(
                        "bad_handler_result",
                        f"{handler_cls.__qualname__}.handle returned {type(result).__name__}; "
                        "return Result.success(None) or Result.failure(...)",
                        retryable=False,
                    )
                )
            if not result.is_success:
                return result
        return Result.success(None)
