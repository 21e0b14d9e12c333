"""The per-message ambient context (correlation, tenant, trace), task-local via contextvars.

The worker sets it in the task that handles one message, so concurrent handlers never see each
other's values; the publisher reads it so events produced inside a handler carry the same
correlation id and name the consumed event as their cause.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RequestContext:
    correlation_id: str
    event_id: str | None = None
    causation_id: str | None = None
    tenant_id: str | None = None
    actor_id: str | None = None
    trace_id: str | None = None

    @staticmethod
    def current() -> RequestContext | None:
        """The context of the message being handled in this task, or None outside a handler."""
        return _current.get()


_current: ContextVar[RequestContext | None] = ContextVar("qx_request_context", default=None)


@contextmanager
def use_context(ctx: RequestContext) -> Iterator[RequestContext]:
    """Make ``ctx`` current for the enclosed block (and tasks created inside it)."""
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        _current.reset(token)
