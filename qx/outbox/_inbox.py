"""Idempotent handlers: the inbox makes at-least-once delivery have exactly-once effects.

``@idempotent()`` on a handler's ``handle`` runs it inside one database transaction that first
records (consumer, event id) in ``qx_inbox``. A redelivery (the worker died after the commit
but before the ack, or ack_wait expired) finds the row and returns success without running the
handler, so the worker acks it. A DLQ replay (``qxgen dlq replay``) is a new message with an
id of its own (``replay:<record id>``) naming the original as its cause; the inbox keys it on
the original id, so replaying an event whose effect already committed does not apply it again.
Events the handler publishes through ``tx.publish`` go into the outbox in the same transaction:
they exist if and only if the effect does.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from qx.core import RequestContext, Result
from qx.events import IntegrationEvent
from qx.exceptions import ConfigurationError
from qx.ops import original_event_id
from qx.outbox._outbox import Outbox, Transaction
from qx.outbox._tracing import INBOX_DUPLICATE, inbox_span


class UsesOutbox(Protocol):
    """A handler that opts in keeps its ``Outbox`` (usually injected) as ``self.outbox``."""

    @property
    def outbox(self) -> Outbox: ...


S = TypeVar("S", bound=UsesOutbox)
E = TypeVar("E", bound=IntegrationEvent)

TxHandle = Callable[[S, E, Transaction], Awaitable[Result[None]]]
Handle = Callable[[S, E], Awaitable[Result[None]]]
AfterCommit = Callable[[str, str], None]


def idempotent(
    consumer: str | None = None, *, after_commit: AfterCommit | None = None
) -> Callable[[TxHandle[S, E]], Handle[S, E]]:
    """Decorate ``async def handle(self, event, tx)``; the worker calls ``handle(event)``.

    ``consumer`` names the inbox (default: the handler class's import path). Two handlers of
    one event need different names, each runs once. Renaming it makes old events look new.
    ``after_commit(consumer, event_id)`` runs after the commit, before the worker acks.
    A failure ``Result`` or an exception rolls everything back, the inbox row included.
    """

    def wrap(fn: TxHandle[S, E]) -> Handle[S, E]:
        name = consumer or f"{fn.__module__}.{fn.__qualname__.rsplit('.', 1)[0]}"

        @functools.wraps(fn)
        async def handle(self: S, event: E) -> Result[None]:
            ctx = RequestContext.current()
            if ctx is None or not ctx.event_id:
                raise ConfigurationError(
                    f"{name}: an idempotent handler needs the id of the event it handles; it "
                    "runs inside the worker (or in `use_context(RequestContext(...))` in tests)"
                )
            event_id = original_event_id(ctx.event_id, ctx.causation_id)
            outbox = self.outbox
            with inbox_span(name, event_id=event_id) as span:
                async with outbox.transaction() as tx:
                    first = await outbox.record_inbox(tx.session, name, event_id)
                    span.set_attribute(INBOX_DUPLICATE, not first)
                    if not first:
                        return Result.success(None)
                    result = await fn(self, event, tx)
                    if not result.is_success:
                        tx.rollback()
            if result.is_success and after_commit is not None:
                after_commit(name, event_id)
            return result

        return handle

    return wrap
