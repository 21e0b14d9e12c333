"""Handle: run an event's handlers in its DI scope, bounded by ``handler_timeout``.

The timeout is a deadline, not a timer per message: the handler's task is entered in
``deadlines`` right before the call and removed right after it returns, with no ``await`` in
between, and ``expire_overdue()`` (called periodically by the worker) cancels only tasks
still in there, so a cancellation can only ever land inside the handler call. Per message
that is a dict insert and delete instead of a ``call_later`` handle and a closure.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from dishka import AsyncContainer

from qx.core import RequestContext, Result
from qx.cqrs import Mediator
from qx.di import NoContainer, ScopeFactory
from qx.worker._classify import classify_exception, classify_result
from qx.worker._decision import Outcome


class HandlerStep:
    def __init__(
        self,
        mediator: Mediator,
        scopes: ScopeFactory,
        container: AsyncContainer | None,
        timeout: float | None,
    ) -> None:
        self.mediator = mediator
        self.timeout = timeout
        self._scopes = scopes
        # A dishka container is entered directly: one async context manager per message.
        self._container = container
        self._direct = isinstance(scopes, NoContainer)  # nothing to open per message
        self.deadlines: dict[asyncio.Task[Any], float] = {}
        self._expired: set[asyncio.Task[Any]] = set()

    async def __call__(self, event: Any, ctx: RequestContext, task: asyncio.Task[Any]) -> Outcome:
        """The outcome of this attempt. Raises CancelledError only when the worker itself is
        being cancelled (shutdown); then the caller hands the message back."""
        if self.timeout is not None:
            self.deadlines[task] = time.monotonic() + self.timeout
        try:
            result = await self._call(event, ctx)
        except asyncio.CancelledError as exc:
            self.deadlines.pop(task, None)
            timed_out = task in self._expired
            if timed_out:
                self._expired.discard(task)
                if task.uncancel() == 0:
                    return classify_exception(exc, timed_out=True, timeout=self.timeout)
            if task.cancelling():
                raise  # we are being cancelled (shutdown): let the worker nak it
            return classify_exception(exc, timed_out=False, timeout=self.timeout)
        except Exception as exc:  # its own TimeoutError included: the handler's message stands
            self.deadlines.pop(task, None)
            return classify_exception(exc, timed_out=False, timeout=self.timeout)
        self.deadlines.pop(task, None)
        if task in self._expired:  # cancelled at its deadline but it returned anyway
            self._expired.discard(task)
            task.uncancel()
        return classify_result(result)

    async def _call(self, event: Any, ctx: RequestContext) -> Result[None]:
        if self._container is not None:
            async with self._container(context={RequestContext: ctx}) as request:
                return await self.mediator.consume_integration(event, request)
        if self._direct:
            return await self.mediator.consume_integration(event)
        async with self._scopes.request_scope(ctx) as scope:
            return await self.mediator.consume_integration(event, scope)

    def expire_overdue(self) -> None:
        """Cancel handlers past their deadline (each at most once)."""
        if not self.deadlines:
            return
        now = time.monotonic()
        for task, deadline in list(self.deadlines.items()):
            if deadline <= now:
                del self.deadlines[task]
                self._expired.add(task)
                task.cancel()
