"""The worker: lifecycle around one message's pipeline.

Per message (``_process``, one screen): facts -> decode (pure) -> handle -> classify (pure)
-> decide (pure) -> settle -> observe. Each step is its own module beside this one.

Around it: the consumer's continuous pull hands each message to ``_deliver`` (no task, no
await), ``concurrency`` worker tasks take them from a queue one at a time, a heartbeat task
sends ``in_progress`` for messages held longer than a third of ``ack_wait`` and cancels
handlers past ``handler_timeout``, and an advisory task turns max-deliveries advisories into
DLQ records. ``stop()`` stops the pull, drains, and hands back what was never started.
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

from qx.core import use_context
from qx.cqrs import Mediator
from qx.di import ScopeFactory, as_scope_factory
from qx.events import EventRegistry
from qx.telemetry import consumer_span, trace_id_of
from qx.transport import NatsConsumer
from qx.worker._dead_letter import AdvisoryProcessor, DeadLetterWriter
from qx.worker._decision import Outcome, advisory_retry, after_settle_failure, decide
from qx.worker._decode import decode
from qx.worker._facts import ack_facts, delivery_facts
from qx.worker._handle import HandlerStep
from qx.worker._observe import Observer
from qx.worker._settings import DEFAULT_HANDLER_TIMEOUT, RetryPolicy
from qx.worker._settle import Settler
from qx.worker._stats import Settled, WorkerStats

log = logging.getLogger("qx.worker")

_STOP: Any = object()

__all__ = ["WorkerRuntime", "ack_facts"]


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
        consumer.use_registry(registry)  # subjects not configured: the registered events'
        batch = consumer.batch_size or batch  # qx-worker 1.x: NatsConsumer(batch_size=...)
        if concurrency < 1 or batch < 1:
            raise ValueError("concurrency and batch must be >= 1")
        if idle_heartbeat is not None and not 0 < idle_heartbeat * 2 <= pull_expires:
            raise ValueError("idle_heartbeat must be > 0 and at most half of pull_expires")
        self.consumer = consumer
        self.registry = registry
        self.mediator = mediator
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
        self._handle = HandlerStep(
            mediator,
            as_scope_factory(container),
            container if isinstance(container, AsyncContainer) else None,
            self.handler_timeout,
        )
        self._settler = Settler(self._writer, self.retry)
        self._observer = Observer(self.stats)
        self._server: tuple[str | None, int | None] = (None, None)
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
        self._progress()
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
            try:
                await self._drain(workers)
                self._drained.set()
                await self._stop_helpers(helpers)
                await self.consumer.close()
            finally:  # stop() waits for this, whatever closing raised
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

    # -- receiving -----------------------------------------------------------------------

    def _deliver(self, msg: Msg) -> None:
        """Called by the consumer for each message as it arrives (no await, no task)."""
        self._held[id(msg)] = (msg, time.monotonic())
        self._queue.put_nowait(msg)

    def _progress(self) -> None:
        self.stats.last_progress = time.monotonic()
        url = self.consumer.nc.connected_url if self.consumer.nc.is_connected else None
        if url is not None:  # the node we are on, for spans (changes on failover)
            self._server = (url.hostname, url.port)

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
        """Keep long-running (or long-buffered) messages from being redelivered mid-flight,
        and cancel handlers past their deadline (``handler_timeout``)."""
        interval = max(0.05, self.consumer.ack_wait / 3)
        tick = interval
        if self.handler_timeout is not None:
            tick = min(interval, max(0.01, self.handler_timeout / 10))
        last_beat = time.monotonic()
        while not self._drained.is_set():  # handlers may still run while stopping
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._drained.wait(), tick)
            self._handle.expire_overdue()
            now = time.monotonic()
            if now - last_beat < interval:
                continue
            last_beat = now
            cutoff = now - interval
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
                    nak = advisory_retry(adv.metadata.num_delivered, self.retry)
                    log.error(
                        "could not write DLQ record from advisory (%s: %s); retrying in %.1fs",
                        type(exc).__name__,
                        exc,
                        nak.delay,
                    )
                    with contextlib.suppress(Exception):
                        await adv.nak(delay=nak.delay)

    # -- processing ----------------------------------------------------------------------

    async def _work(self) -> None:
        task = asyncio.current_task()
        assert task is not None
        while True:
            msg = await self._queue.get()
            if msg is _STOP:
                return
            try:
                await self._process(msg, task)
            except asyncio.CancelledError:
                # Only reached when this task itself is cancelled (shutdown_timeout): handlers'
                # own CancelledErrors are outcomes, see HandlerStep.
                with contextlib.suppress(Exception):
                    await msg.nak()
                raise
            except Exception as exc:  # e.g. the connection broke while settling
                nak = after_settle_failure(ack_facts(msg)[1], self.retry)
                log.exception(
                    "could not settle %s (%s); nak'd with %.1fs delay", msg.subject, exc, nak.delay
                )
                with contextlib.suppress(Exception):
                    await msg.nak(delay=nak.delay)
            finally:
                self._held.pop(id(msg), None)
                self.consumer.release()

    async def _process(self, msg: Msg, task: asyncio.Task[Any]) -> None:
        """One message, start to end. Every step is a function of what the previous returned."""
        started = time.perf_counter()
        d = delivery_facts(msg)
        self._observer.started()
        try:
            with consumer_span(
                d.subject,
                d.headers,
                consumer=self._durable,
                delivery_count=d.delivered,
                stream_seq=d.seq,
                body_size=len(msg.data),
                server_address=self._server[0],
                server_port=self._server[1],
            ) as span:
                trace_id = trace_id_of(span)  # the producer's, carried on (or our span's)
                decoded = decode(d, self.registry)
                if isinstance(decoded, Outcome):
                    env, ctx, outcome = None, None, decoded
                else:
                    env, event = decoded
                    ctx = env.request_context(trace_id)
                # One context for handling, settling and reporting, so every log line of this
                # message (the handler's and qx's) carries its correlation and tenant ids.
                with use_context(ctx) if ctx else contextlib.nullcontext():
                    if ctx is not None:
                        outcome = await self._handle(event, ctx, task)
                    decision = decide(outcome, d.delivered, self.consumer.max_deliver, self.retry)
                    done, written = await self._settler.settle(
                        d, decision, outcome, self.consumer.max_deliver, trace_id
                    )
                    self._observer.settled(
                        span, d, env, ctx, outcome, decision, done, written, trace_id, started
                    )
        finally:
            self._observer.finished()
