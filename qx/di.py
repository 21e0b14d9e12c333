"""Dependency injection: a tiny protocol the worker needs, and its dishka implementation.

The worker opens one scope per message and resolves handlers from it. dishka does the real
work (APP scope for shared clients, REQUEST scope per message); the ``ScopeFactory`` protocol
lets another container be plugged in without touching the worker.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Protocol, TypeVar, runtime_checkable

from dishka import AsyncContainer, Provider, Scope

from qx.core import RequestContext
from qx.cqrs import Mediator, Resolver

T = TypeVar("T")


@runtime_checkable
class ScopeFactory(Protocol):
    def request_scope(self, context: RequestContext) -> AbstractAsyncContextManager[Resolver]:
        """Open the per-message scope; ``context`` must be injectable inside it."""
        ...


class DishkaScopeFactory:
    """Opens a dishka REQUEST scope per message with ``RequestContext`` in its context."""

    def __init__(self, container: AsyncContainer) -> None:
        self._container = container

    @asynccontextmanager
    async def request_scope(self, context: RequestContext) -> AsyncIterator[Resolver]:
        async with self._container(context={RequestContext: context}) as request:
            yield request


class NoContainer:
    """For handlers without dependencies: constructs them directly."""

    @asynccontextmanager
    async def request_scope(self, context: RequestContext) -> AsyncIterator[Resolver]:
        yield _Direct()


class _Direct:
    async def get(self, dependency_type: type[T]) -> T:
        return dependency_type()


def as_scope_factory(container: AsyncContainer | ScopeFactory | None) -> ScopeFactory:
    if container is None:
        return NoContainer()
    if isinstance(container, AsyncContainer):
        return DishkaScopeFactory(container)
    if isinstance(container, ScopeFactory):
        return container
    raise TypeError(
        f"container must be a dishka AsyncContainer or implement ScopeFactory, got "
        f"{type(container).__name__}"
    )


def handlers_provider(
    mediator: Mediator | None = None, extra: Iterable[type[Any]] = ()
) -> Provider:
    """A dishka provider making every handler (and ``RequestContext``) available per message.

    Add it next to your own providers: ``make_async_container(AppProvider(),
    handlers_provider(mediator))``.
    """
    provider = Provider(scope=Scope.REQUEST)
    provider.from_context(provides=RequestContext, scope=Scope.REQUEST)
    classes = [*(mediator.handler_classes if mediator else ()), *extra]
    for cls in dict.fromkeys(classes):
        provider.provide(cls, scope=Scope.REQUEST)
    return provider
