"""The consumer loop: fetch -> decode -> context -> scope -> dispatch -> decide -> settle.

One fetcher task keeps a buffer topped up (a credit window of ``concurrency + batch``
messages), ``concurrency`` worker tasks take messages from it one at a time, and a heartbeat
task sends ``in_progress`` for messages held longer than a third of ``ack_wait``. Deciding
what happens to a message is the pure ``decide()``; this module only carries it out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from dishka import AsyncContainer
from nats.aio.msg import Msg

from qx.core import RequestContext, Result, use_context
from qx.cqrs import Mediator
from qx.di import NoContainer, ScopeFactory, as_scope_factory
from qx.events._consumer import NatsConsumer
from qx.events._envelope import parse_envelope
from qx.events._headers import lower_keys
from qx.events._registry import EventRegistry
from qx.exceptions import NonRetryableError, PoisonMessageError
from qx.telemetry import _metrics as metrics
from qx.telemetry import annotate_envelope, consumer_span, current_trace_id, mark_failed
from qx.telemetry._attributes import SETTLEMENT
from qx.worker._dead_letter import AdvisoryProcessor, DeadLetterWriter
from qx.worker._decision import Ack, DeadLetter, Decision, Nak, Outcome, decide
from qx.worker._settings import DEFAULT_HANDLER_TIMEOUT, RetryPolicy
from qx.worker._stats import Settled, WorkerStats

log = logging.getLogger("qx.worker")

_STOP: Any = object()


def _expire(task: asyncio.Task[Any], expired: list[bool]) -> None:
    expired.append(True)
    task.cancel()


def ack_facts(msg: Msg) -> tuple[str, int, int]:
    """(stream, delivery count, stream sequence) from the reply subject.

    ``$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>``: split directly,
    which is ~6x cheaper than ``msg.metadata``; other layouts (domains) use nats-py's parser.
    """
    tokens = (msg.reply or "").split(".")
    if len(tokens) == 9 and tokens[0] == "$JS" and tokens[1] == "ACK":
        return tokens[2], int(tokens[4]), int(tokens[5])
    meta = msg.metadata
    return meta.stream, meta.num_delivered, meta.sequence.stream


class WorkerRuntime:
    """Runs handlers for messages of one durable consumer until ``stop()``.

    At-least-once: a message is acked only after its handlers succeeded; failures are nak'd
    with exponential delay; poison, non-retryable and exhausted messages go to the DLQ.
    """

    def __init__(
        self,
        *,
        consumer: NatsConsumer,
        registry: EventRegistry,
        mediator: Mediator,
        container: AsyncContainer | ScopeFactory | None = None,
        concurrency: int = 8,
        batch: int = 64,
        fetch_timeout: float = 1.0,
        retry: RetryPolicy | None = None,
        handler_timeout: float | None = DEFAULT_HANDLER_TIMEOUT,
        shutdown_timeout: float = 30.0,
        pull_expires: float = 30.0,
        idle_heartbeat: float | None = None,
        max_bytes: int = 0,
    ) -> None:
        if concurrency < 1 or batch < 1:
            raise ValueError("concurrency and batch must be >= 1")
        self.consumer = consumer
        self.registry = registry
        self.mediator = mediator
        self._scopes = as_scope_factory(container)
        self._direct = isinstance(self._scopes, NoContainer)  # no scope to open per message
        self.concurrency = concurrency
        self.batch = batch
        self.fetch_timeout = fetch_timeout
        self.retry = retry or RetryPolicy()
        # None or 0: no limit (then a hung handler holds its slot and message until restart).
        self.handler_timeout = handler_timeout if handler_timeout and handler_timeout > 0 else None
        self.shutdown_timeout = shutdown_timeout
        # The continuous pull (NatsConsumer.consume): each request's expiry, the server's idle
        # heartbeat (default: expires/6, at most 5 s) and an optional byte cap per request.
        self.pull_expires = pull_expires
        self.idle_heartbeat = idle_heartbeat
        self.max_bytes = max_bytes
        self.stats = WorkerStats()
        self._durable = consumer.settings.durable
        self._writer = DeadLetterWriter(lambda: consumer.nc, consumer.settings)
        self._advisories = AdvisoryProcessor(lambda: consumer.nc, self._writer)
        self._queue: asyncio.Queue[Msg] = asyncio.Queue()
        # fetched, not yet settled: id(msg) -> (msg, monotonic fetch time). Msg is unhashable.
        self._held: dict[int, tuple[Msg, float]] = {}
        self._stopping = asyncio.Event()
        self._drained = asyncio.Event()
        self._done = asyncio.Event()
        self._running = False
        self._run_called = False
        self._started = asyncio.Event()

    # -- public --------------------------------------------------------------------------

    def add_listener(self, listener: Callable[[Settled], None]) -> None:
        """Called after each settlement (tests, demo summary). Must be fast and not raise."""
        self.stats.listeners.append(listener)

    @property
    def is_running(self) -> bool:
        return self._running

    @property
    def is_ready(self) -> bool:
        return self._running and not self._stopping.is_set() and self.consumer.is_ready

    async def wait_running(self) -> None:
        """Return once ``run()`` has connected, provisioned and started consuming."""
        await self._started.wait()

    async def run(self) -> None:
        """Start consuming; returns after ``stop()`` has drained everything."""
        if self._run_called:
            raise RuntimeError("WorkerRuntime.run() can be called once; build a new worker")
        self._run_called = True
        try:
            started = await self._start_consumer()
        except BaseException:
            self._done.set()
            raise
        if not started:  # stop() arrived while connecting (the first connect retries forever)
            await self.consumer.close()
            self._done.set()
            return
        self._running = True
        self._started.set()
        self.stats.last_progress = time.monotonic()
        log.info(
            "worker %s consuming %s from %s (concurrency=%d, batch=%d, max_deliver=%d)",
            self._durable,
            ", ".join(self.consumer.settings.subjects),
            self.consumer.settings.stream,
            self.concurrency,
            self.batch,
            self.consumer.max_deliver,
        )
        workers = [
            asyncio.create_task(self._work(), name=f"qx-worker-{i}")
            for i in range(self.concurrency)
        ]
        helpers = [
            asyncio.create_task(self._heartbeat(), name="qx-heartbeat"),
            asyncio.create_task(self._advisory_loop(), name="qx-advisories"),
        ]
        try:
            await self.consumer.consume(
                self._deliver,
                window=self.concurrency + self.batch,
                batch=self.batch,
                expires=self.pull_expires,
                heartbeat=self.idle_heartbeat,
                max_bytes=self.max_bytes,
                progress=self._progress,
            )
        finally:
            await self._drain(workers)
            self._drained.set()
            await self._stop_helpers(helpers)
            await self.consumer.close()
            self._running = False
            self._done.set()
            log.info("worker %s stopped", self._durable)

    async def _start_consumer(self) -> bool:
        """Connect, provision and bind, unless ``stop()`` comes first (then False)."""
        starting = asyncio.create_task(self.consumer.start(self.batch * self.concurrency))
        stopping = asyncio.create_task(self._stopping.wait())
        await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if starting.done():
            starting.result()  # raise what start() raised (a ConfigurationError, say)
            return not self._stopping.is_set()
        starting.cancel()
        await asyncio.wait({starting}, timeout=5.0)
        return False

    async def stop(self) -> None:
        """Stop fetching, let in-flight handlers finish (up to ``shutdown_timeout``), nak what
        was fetched but not started, close the connection; returns when all that is done."""
        self._stopping.set()
        self.consumer.stop_consuming()
        if self._run_called:
            await self._done.wait()

    # -- fetching ------------------------------------------------------------------------

    def _deliver(self, msg: Msg) -> None:
        """Called by the consumer for each message as it arrives (no await, no task)."""
        self._held[id(msg)] = (msg, time.monotonic())
        self._queue.put_nowait(msg)

    def _progress(self) -> None:
        self.stats.last_progress = time.monotonic()

    async def _stop_helpers(self, helpers: list[asyncio.Task[None]]) -> None:
        """The helper loops watch ``_stopping`` and end after their current fetch. Cancelling
        is only the fallback: on Python 3.11 ``asyncio.wait_for`` (used inside nats-py's fetch)
        can swallow a cancellation, which would leave a ``while True`` loop running forever."""
        _, pending = await asyncio.wait(helpers, timeout=self.fetch_timeout + 1.0)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=self.fetch_timeout + 1.0)

    def _is_last_delivery(self, msg: Msg) -> bool:
        max_deliver = self.consumer.max_deliver
        return max_deliver > 0 and ack_facts(msg)[1] >= max_deliver

    async def _return_unstarted(self, msg: Msg) -> None:
        """Fetched but never started: hand it back for immediate redelivery elsewhere."""
        with contextlib.suppress(Exception):
            await msg.nak()
        self._held.pop(id(msg), None)
        self.consumer.release()

    async def _drain(self, workers: list[asyncio.Task[None]]) -> None:
        # Handing back a message on its last allowed delivery would spend that delivery without
        # an attempt (it would be dead-lettered unprocessed), so those few still run here.
        last_chance: list[Msg] = []
        while not self._queue.empty():
            msg = self._queue.get_nowait()
            if self._is_last_delivery(msg):
                last_chance.append(msg)
            else:
                await self._return_unstarted(msg)
        for msg in last_chance:
            self._queue.put_nowait(msg)
        for _ in workers:
            self._queue.put_nowait(_STOP)
        _, pending = await asyncio.wait(workers, timeout=self.shutdown_timeout)
        if pending:
            log.warning(
                "%d handler(s) still running after shutdown_timeout=%.1fs; cancelling, their "
                "messages are nak'd for redelivery",
                len(pending),
                self.shutdown_timeout,
            )
            for task in pending:
                task.cancel()
            await asyncio.wait(pending, timeout=5.0)

    async def _heartbeat(self) -> None:
        """Keep long-running (or long-buffered) messages from being redelivered mid-flight."""
        interval = max(0.05, self.consumer.ack_wait / 3)
        while not self._drained.is_set():  # handlers may still run while stopping
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._drained.wait(), interval)
            cutoff = time.monotonic() - interval
            for msg, since in list(self._held.values()):
                if since <= cutoff:
                    with contextlib.suppress(Exception):
                        await msg.in_progress()

    async def _advisory_loop(self) -> None:
        if not self.consumer.has_advisories:
            return
        while not self._stopping.is_set():
            try:
                advisories = await self.consumer.fetch_advisories(16, self.fetch_timeout)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("advisory fetch failed (%s); retrying", exc)
                await asyncio.sleep(1.0)
                continue
            for adv in advisories:
                try:
                    await self._advisories.handle(adv)
                    await adv.ack()
                except Exception as exc:
                    delay = self.retry.delay_for(adv.metadata.num_delivered)
                    log.error(
                        "could not write DLQ record from advisory (%s: %s); retrying in %.1fs",
                        type(exc).__name__,
                        exc,
                        delay,
                    )
                    with contextlib.suppress(Exception):
                        await adv.nak(delay=delay)

    # -- processing ----------------------------------------------------------------------

    async def _work(self) -> None:
        while True:
            msg = await self._queue.get()
            if msg is _STOP:
                return
            try:
                await self._process(msg)
            except asyncio.CancelledError:
                # Only reached when this task itself is cancelled (shutdown_timeout): handlers'
                # own CancelledErrors are outcomes, see _dispatch.
                with contextlib.suppress(Exception):
                    await msg.nak()
                raise
            except Exception as exc:  # e.g. the connection broke while settling
                delay = self.retry.delay_for(ack_facts(msg)[1])
                log.exception(
                    "could not settle %s (%s); nak'd with %.1fs delay", msg.subject, exc, delay
                )
                with contextlib.suppress(Exception):
                    await msg.nak(delay=delay)
            finally:
                self._held.pop(id(msg), None)
                self.consumer.release()

    async def _process(self, msg: Msg) -> None:
        started = time.perf_counter()
        stream, delivered, seq = ack_facts(msg)
        headers = lower_keys(msg.headers)
        self.stats.in_flight += 1
        metrics.in_flight.add(1)
        event_type: str | None = None
        ctx: RequestContext | None = None
        try:
            with consumer_span(
                msg.subject,
                headers,
                consumer=self._durable,
                delivery_count=delivered,
                stream_seq=seq,
                body_size=len(msg.data),
            ) as span:
                trace_id = current_trace_id()
                outcome: Outcome | None = None
                exc_for_span: BaseException | None = None
                try:
                    env = parse_envelope(msg.subject, headers, msg.data, lowered=True)
                    event_type = env.event_type
                    annotate_envelope(
                        span,
                        event_id=env.event_id,
                        event_type=env.event_type,
                        correlation_id=env.correlation_id,
                        tenant_id=env.tenant_id,
                    )
                    ctx = env.request_context(trace_id)
                    event = self.registry.build(env.event_type, env.event_version, env.data)
                except PoisonMessageError as exc:
                    outcome = Outcome("poison", exc.reason, type(exc).__name__, exc.message, False)
                    exc_for_span = exc
                except Exception as exc:  # e.g. RecursionError from absurdly nested JSON
                    message = f"message could not be decoded: {type(exc).__name__}: {exc}"
                    outcome = Outcome("poison", "undecodable", type(exc).__name__, message, False)
                    exc_for_span = exc
                # One context for dispatch, decision and settlement, so every log line of this
                # message (the handler's and qx's) carries its correlation and tenant ids.
                with use_context(ctx) if ctx else contextlib.nullcontext():
                    if outcome is None:
                        assert ctx is not None
                        outcome, exc_for_span = await self._dispatch(event, ctx)
                    decision = decide(outcome, delivered, self.consumer.max_deliver, self.retry)
                    if outcome.kind != "success":
                        mark_failed(span, f"{outcome.reason}: {outcome.message}", exc_for_span)
                        self._log_failure(msg, ctx, outcome, decision, delivered)
                    if span.is_recording():
                        span.set_attribute(SETTLEMENT, decision.kind)
                    written = await self._settle(
                        msg, decision, outcome, stream, delivered, seq, trace_id
                    )
        finally:
            self.stats.in_flight -= 1
            metrics.in_flight.add(-1)
        attrs = {"messaging.destination.name": msg.subject, "qx.settlement": decision.kind}
        metrics.duration.record(time.perf_counter() - started, attrs)
        if self.stats.listeners:
            self.stats.notify(
                Settled(
                    subject=msg.subject,
                    stream_seq=seq,
                    delivery=delivered,
                    decision=decision.kind,
                    event_type=event_type,
                    event_id=ctx.event_id if ctx else None,
                    correlation_id=ctx.correlation_id if ctx else None,
                    delay=decision.delay if isinstance(decision, Nak) else None,
                    reason=decision.reason if isinstance(decision, DeadLetter) else None,
                    error=None if outcome.kind == "success" else outcome.message,
                    trace_id=trace_id,
                    dead_letter_written=written,
                )
            )

    async def _dispatch(
        self, event: Any, ctx: RequestContext
    ) -> tuple[Outcome, BaseException | None]:
        # handler_timeout with a bare timer rather than asyncio.timeout(): same semantics for a
        # handler that awaits, a third of the cost per message (bench/). No await separates the
        # handler's return from timer.cancel(), so the timer cannot fire late.
        task = asyncio.current_task()
        expired: list[bool] = []
        timer: asyncio.TimerHandle | None = None
        if self.handler_timeout is not None and task is not None:
            timer = asyncio.get_running_loop().call_later(
                self.handler_timeout, _expire, task, expired
            )
        try:
            result = await self._call(event, ctx)
        except NonRetryableError as exc:
            return Outcome("failure", "non_retryable", type(exc).__name__, str(exc), False), exc
        except asyncio.CancelledError as exc:
            if task is not None and expired and task.uncancel() == 0:
                message = f"handler did not finish within handler_timeout={self.handler_timeout}s"
                return Outcome("failure", "handler_timeout", "TimeoutError", message, True), exc
            if task is not None and task.cancelling():
                raise  # we are being cancelled (shutdown): let the worker nak it
            # The handler's own business (a cancelled subtask or gather): a failed attempt.
            message = f"handler raised CancelledError: {exc}"
            return Outcome("failure", "handler_error", "CancelledError", message, True), exc
        except Exception as exc:  # its own TimeoutError included: the handler's message stands
            return Outcome("failure", "handler_error", type(exc).__name__, str(exc), True), exc
        finally:
            if timer is not None:
                timer.cancel()
        if result.is_success:
            return Outcome.success(), None
        err = result.error
        assert err is not None
        return Outcome("failure", "handler_failed", err.code, err.message, err.retryable), None

    async def _call(self, event: Any, ctx: RequestContext) -> Result[None]:
        if self._direct:
            return await self.mediator.consume_integration(event)
        async with self._scopes.request_scope(ctx) as scope:
            return await self.mediator.consume_integration(event, scope)

    async def _settle(
        self,
        msg: Msg,
        decision: Decision,
        outcome: Outcome,
        stream: str,
        delivered: int,
        seq: int,
        trace_id: str | None,
    ) -> bool | None:
        """Carry out the decision. Returns whether a DLQ record was written (None if n/a)."""
        attrs = {"messaging.destination.name": msg.subject}
        if isinstance(decision, Ack):
            await msg.ack()
            self.stats.processed += 1
            metrics.processed.add(1, attrs)
            return None
        if isinstance(decision, Nak):
            await msg.nak(delay=decision.delay)
            self.stats.failed += 1
            metrics.failed.add(1, attrs)
            return None
        try:
            await self._writer.write(
                subject=msg.subject,
                headers=msg.headers,
                body=msg.data,
                stream=stream,
                seq=seq,
                attempts=delivered,
                reason=decision.reason,
                error_type=outcome.error_type,
                error_message=outcome.message,
                origin="worker",
                trace_id=trace_id,
            )
        except Exception as exc:
            # Not stored: do not term. Nak so it is retried; once deliveries run out the
            # max-deliveries advisory path writes the record. On the last delivery a plain nak
            # makes that advisory fire at once, well inside the DLQ's 120 s dedup window.
            last = self.consumer.max_deliver > 0 and delivered >= self.consumer.max_deliver
            delay = 0.0 if last else self.retry.delay_for(delivered)
            log.error(
                "DLQ write for %s seq %d failed (%s: %s); nak'd with %.1fs delay, the advisory "
                "path will record it if deliveries run out",
                msg.subject,
                seq,
                type(exc).__name__,
                exc,
                delay,
            )
            await msg.nak(delay=delay or None)
            self.stats.failed += 1
            metrics.failed.add(1, attrs)
            return False
        await self._writer.terminate(msg, decision.reason)
        self.stats.dead_lettered += 1
        metrics.dead_lettered.add(1, {**attrs, "qx.reason": decision.reason})
        return True

    def _log_failure(
        self,
        msg: Msg,
        ctx: RequestContext | None,
        outcome: Outcome,
        decision: Decision,
        delivered: int,
    ) -> None:
        action = (
            f"retry in {decision.delay:.2f}s"
            if isinstance(decision, Nak)
            else f"dead-letter ({getattr(decision, 'reason', '')})"
        )
        log.warning(
            "%s on %s (delivery %d, correlation_id=%s, tenant_id=%s): %s: %s -> %s",
            outcome.reason,
            msg.subject,
            delivered,
            ctx.correlation_id if ctx else "-",
            (ctx.tenant_id or "-") if ctx else "-",
            outcome.error_type,
            outcome.message,
            action,
            extra={
                "correlation_id": ctx.correlation_id if ctx else None,
                "tenant_id": ctx.tenant_id if ctx else None,
            },
        )
