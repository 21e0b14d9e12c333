"""A durable JetStream pull consumer that survives outages.

The worker consumes through ``consume()``: a continuous pull on one inbox (``_pull.py``),
driven by a control loop here that also owns recovery. nats-py reconnects by itself and the
inbox subscription is restored (facts §9), but the server forgets open pull requests, so a
reconnect or missed heartbeats re-send them. A consumer that is deleted or unavailable
(409/503) is provisioned and bound again; a connection that is closed for good (reconnects
exhausted, or a server ``-ERR``) is rebuilt. ``fetch()`` stays for callers that want batches;
its subscription is made on the first call, so a worker that only consumes holds none.

Advisories (max-deliveries, for DLQ records whose write failed) are fetched on their own
subscription with their own error count: trouble there (the advisory stream's node is down,
its consumer deleted) is logged, retried and re-bound on its own, and never makes the worker
not-ready or re-binds the main consumer. Every re-bind unsubscribes what it replaces.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig

from qx.events import EventRegistry
from qx.exceptions import ConfigurationError, NatsAuthError
from qx.transport import _fast_headers as fast_headers
from qx.transport._connection import connect_when_reachable, jetstream_advertised
from qx.transport._legacy import CONSUMER_RENAMES, deprecated
from qx.transport._provision import ensure_dlq, find_advisory_stream, provision
from qx.transport._pull import LEADER_ELECTED, ContinuousPull, Deliver, PullStats
from qx.transport._settings import ConsumerSettings, NatsSettings

log = logging.getLogger("qx.consumer")

_REBUILD_DELAY = 1.0
T = TypeVar("T")
_REBIND_AFTER = 3
# How a refused subscription to the leader-change advisory reads (nats-py lower-cases it).
_LEADER_WATCH = LEADER_ELECTED.lower()


def _check_consumer(config: ConsumerConfig, s: ConsumerSettings) -> None:
    """Refuse consumers qx cannot run correctly, typically ops-made ones (provision=False)."""
    where = f"consumer {s.durable} on stream {s.stream}"
    if config.ack_policy not in (None, AckPolicy.EXPLICIT):
        raise ConfigurationError(
            f"{where} has ack_policy={config.ack_policy}; qx acks each message after its "
            "handler succeeded and needs ack_policy=explicit (recreate the consumer)"
        )
    if config.backoff:
        raise ConfigurationError(
            f"{where} has a backoff list {config.backoff}; qx computes retry delays itself and "
            "the server would add the two (remove backoff from the consumer)"
        )


def _token(name: str) -> str:
    """A stream/consumer-safe name from a service name (``qxgen``'s rule)."""
    return re.sub(r"[^A-Za-z0-9_]", "_", name) or "qx_service"


def _only(current: T | None, new: T, what: str) -> T:
    if current is not None and current is not new:
        raise TypeError(f"NatsConsumer got two {what} arguments; pass one")
    return new


class NatsConsumer:
    """The worker's durable pull consumer.

    Built from a connection and/or ``NatsSettings`` plus the consumer's settings, in any of
    these forms (README "Coming from qx-worker 1.x")::

        NatsConsumer(nc, settings.nats)            # stream/durable/subjects from NatsSettings
        NatsConsumer(nc, ConsumerSettings(...))    # an existing connection
        NatsConsumer(NatsSettings(...), ConsumerSettings(...))  # connects (and reconnects)
        NatsConsumer(nc, stream="ORDERS", durable="billing", subjects=["orders.>"])
        NatsConsumer(nc, registry, stream=..., durable_name=..., subject_filter=...)  # 1.x

    Subjects not given anywhere default to the subjects of the registry the worker runs;
    stream and durable default to ``NatsSettings.name`` (``NATS_NAME``), as ``qxgen`` names
    them (``billing-service`` -> stream ``BILLING_SERVICE``, durable ``billing_service``).
    """

    def __init__(
        self,
        first: Client | NatsSettings | None = None,
        second: ConsumerSettings | NatsSettings | EventRegistry | None = None,
        /,
        *,
        connection: Client | None = None,
        nats: NatsSettings | None = None,
        settings: ConsumerSettings | None = None,
        stream: str | None = None,
        durable: str | None = None,
        subjects: str | Sequence[str] | None = None,
        ack_wait: float | None = None,
        max_deliver: int | None = None,
        provision: bool | None = None,
        **legacy: Any,
    ) -> None:
        registry: EventRegistry | None = None
        for arg in (first, second):
            if arg is None:
                continue
            if isinstance(arg, NatsSettings):
                nats = _only(nats, arg, "NatsSettings")
            elif isinstance(arg, ConsumerSettings):
                settings = _only(settings, arg, "ConsumerSettings")
            elif isinstance(arg, EventRegistry):
                registry = arg
            elif arg is first:
                connection = _only(connection, arg, "connection")
            else:
                raise TypeError(
                    f"NatsConsumer's second argument is a {type(arg).__name__}; pass "
                    "NatsSettings, ConsumerSettings or (1.x) an EventRegistry"
                )
        overrides: dict[str, Any] = {
            "stream": stream,
            "durable": durable,
            "subjects": [subjects] if isinstance(subjects, str) else subjects,
            "ack_wait": ack_wait,
            "max_deliver": max_deliver,
            "provision": provision,
        }
        self.batch_size: int | None = None
        for old, value in legacy.items():
            if old == "batch_size":
                deprecated("NatsConsumer(batch_size=...)", "WorkerRuntime(batch=...)")
                self.batch_size = int(value)
                continue
            new = CONSUMER_RENAMES.get(old)
            if new is None:
                raise TypeError(f"NatsConsumer() got an unexpected keyword argument {old!r}")
            if overrides[new] is not None:
                raise TypeError(f"NatsConsumer got both {old}= (1.x) and {new}=; keep {new}=")
            deprecated(f"NatsConsumer({old}=...)", f"NatsConsumer({new}=...)")
            overrides[new] = [value] if new == "subjects" and isinstance(value, str) else value
        if registry is not None:
            deprecated(
                "NatsConsumer(connection, registry, ...)",
                "NatsConsumer(connection, stream=..., durable=...) and WorkerRuntime(registry=...)",
            )
        self._nats = nats
        self._base = settings
        self._overrides = {k: v for k, v in overrides.items() if v is not None}
        self._registry = registry
        self._settings: ConsumerSettings | None = None
        if settings is not None and not self._overrides:
            self._settings = settings
        self._nc = connection
        self._owns_connection = connection is None
        self._js: JetStreamContext | None = None
        self._bound = False  # the main durable exists and was checked
        self._sub: JetStreamContext.PullSubscription | None = None  # fetch()'s, made lazily
        self._adv_sub: JetStreamContext.PullSubscription | None = None
        self._adv_wanted = False  # advisory capture was bound once: keep restoring it
        self._adv_lock = asyncio.Lock()
        self._adv_missing_warned = False
        self._batch_hint = 64
        self._rebuild_lock = asyncio.Lock()
        self._fetch_errors = 0  # consecutive server errors on the main consumer (deleted, ...)
        self._adv_errors = 0  # the same for the advisory consumer; never affects readiness
        self._denied: NatsAuthError | None = None  # a permissions violation seen while starting
        self._leader_watch_refused = False
        # Read back from the server after binding: it is the source of truth when streams are
        # managed by ops (provision=False).
        # defaults until resolved
        known = settings or ConsumerSettings.model_construct(stream="", durable="", subjects=[])
        self.max_deliver: int = self._overrides.get("max_deliver") or known.max_deliver
        self.ack_wait: float = self._overrides.get("ack_wait") or known.ack_wait
        self._pull: ContinuousPull | None = None
        self._consuming = False
        self._stop_consuming = False
        self._wake = asyncio.Event()

    @property
    def nats_settings(self) -> NatsSettings:
        """Given, or read from ``NATS_*`` when first needed (not at all when a connection
        and the consumer's names were passed)."""
        if self._nats is None:
            self._nats = NatsSettings()
        return self._nats

    def use_registry(self, registry: EventRegistry) -> None:
        """Subjects not configured anywhere default to those of the events the worker runs
        (``WorkerRuntime`` calls this)."""
        if self._registry is None:
            self._registry = registry

    @property
    def settings(self) -> ConsumerSettings:
        """The consumer's settings, resolved on first use (so the registry can still be
        filled in between building the consumer and building the worker)."""
        if self._settings is None:
            self._settings = self._resolve()
            self.max_deliver = self._settings.max_deliver
            self.ack_wait = self._settings.ack_wait
        return self._settings

    def _resolve(self) -> ConsumerSettings:
        if self._base is not None:
            return self._base.model_copy(update=self._overrides)
        values = dict(self._overrides)
        if not all(values.get(k) for k in ("stream", "durable", "subjects")):
            n = self.nats_settings
            service = _token(n.name) if n.name else None
            values.setdefault("stream", n.stream or (service.upper() if service else None))
            values.setdefault("durable", n.durable or service)
            values["subjects"] = values.get("subjects") or n.subjects
        if not values.get("subjects") and self._registry is not None:
            values["subjects"] = self._registry.subjects
        missing = [k for k in ("stream", "durable", "subjects") if not values.get(k)]
        if missing:
            raise ConfigurationError(
                f"NatsConsumer has no {'/'.join(missing)}: set them in NatsSettings "
                "(stream=, durable=, subjects= or QX_STREAM, QX_DURABLE, QX_SUBJECTS), "
                "name the service (NATS_NAME) for stream/durable defaults, or register events "
                "for the subjects"
            )
        return ConsumerSettings(**values)

    @property
    def nc(self) -> Client:
        if self._nc is None:
            raise RuntimeError("NatsConsumer is not started; call `await consumer.start()`")
        return self._nc

    @property
    def js(self) -> JetStreamContext:
        if self._js is None:
            raise RuntimeError("NatsConsumer is not started; call `await consumer.start()`")
        return self._js

    @property
    def is_ready(self) -> bool:
        return (
            self._nc is not None
            and self._nc.is_connected
            and self._bound
            and self._fetch_errors == 0
            and (self._pull is None or self._pull.problem is None)
        )

    async def start(self, batch_hint: int = 64) -> None:
        """Connect (if needed), provision (if enabled) and bind.

        A JetStream request the server refuses for lack of permission only times out in
        nats-py; when the connection reported a permissions violation meanwhile, that is
        raised instead (``NatsAuthError`` naming the subject).
        """
        self._denied = None
        try:
            await self._start(batch_hint)
        except (TimeoutError, nats.errors.Error) as exc:
            if self._denied is not None:
                raise self._denied from exc
            raise

    def _on_denied(self, denied: NatsAuthError) -> bool:
        """True when reported here (the refused leader watch): nats-py re-subscribes on every
        reconnect, so it is refused again each time and warned about once."""
        if _LEADER_WATCH in str(denied).lower():
            # Optional: without it a consumer leader change is noticed by the 409 or, when
            # that is lost, by two missed heartbeats. Worth a warning, not a refusal.
            if not self._leader_watch_refused:
                self._leader_watch_refused = True
                log.warning(
                    "%s; consumer leader changes will be noticed late (up to two idle heartbeats)",
                    denied,
                )
            return True
        self._denied = denied
        return False

    def _start_is_hopeless(self) -> bool:
        """No retry helps: a permission was refused, or the server runs without JetStream."""
        no_jetstream = self._nc is not None and jetstream_advertised(self._nc) is False
        return self._denied is not None or no_jetstream

    async def _start(self, batch_hint: int) -> None:
        self._batch_hint = batch_hint
        if self._nc is None or self._nc.is_closed:
            self._nc = await self._connect()
            self._owns_connection = True
            fast_headers.install(self._nc)  # our own connection: nobody else parses on it
        self._js = self._nc.jetstream()
        advisory_stream: str | None
        if self.settings.provision:
            advisory_stream = await provision(
                self._js, self.settings, batch_hint, hopeless=self._start_is_hopeless
            )
        else:
            advisory_stream = await find_advisory_stream(self._js, self.settings)
        try:
            info = await self._js.consumer_info(self.settings.stream, self.settings.durable)
        except nats.js.errors.NotFoundError as exc:
            raise ConfigurationError(
                f"consumer {self.settings.durable} on stream {self.settings.stream} does not "
                f"exist ({exc.description}); provisioning is off, so create it (explicit ack, "
                "no backoff list) or enable provisioning (QX_PROVISION=true)"
            ) from None
        _check_consumer(info.config, self.settings)
        # consume() pulls on an inbox of its own; fetch() binds again on its next call.
        old, self._sub = self._sub, None
        await _unsubscribe(old)
        self._bound = True
        self._fetch_errors = 0
        self.max_deliver = info.config.max_deliver or -1
        self.ack_wait = info.config.ack_wait or self.settings.ack_wait
        await self._bind_advisories(advisory_stream)

    async def _bind_advisories(self, stream: str | None) -> None:
        """(Re)subscribe the advisory consumer on ``stream``, unsubscribing the old one."""
        async with self._adv_lock:
            old, self._adv_sub = self._adv_sub, None
            await _unsubscribe(old)
            self._adv_errors = 0
            if stream is None:
                if self._adv_missing_warned:
                    return
                self._adv_missing_warned = True
                log.warning(
                    "no advisory consumer %s capturing %s: messages whose DLQ write fails will "
                    "only be recoverable from the source stream; enable provisioning or create it",
                    self.settings.advisory_durable,
                    self.settings.advisory_subject,
                )
                return
            self._adv_sub = await self.js.pull_subscribe_bind(
                self.settings.advisory_durable, stream=stream
            )
            self._adv_wanted = True
            self._adv_missing_warned = False

    async def _connect(self) -> Client:
        """The first connection, retried until the server answers."""
        return await connect_when_reachable(self.nats_settings, on_denied=self._on_denied)

    async def fetch(self, batch: int, timeout: float) -> list[Msg]:
        """Messages, or [] on timeout (no messages, or server unreachable for now)."""
        if not self._bound:
            raise RuntimeError("NatsConsumer is not started; call `await consumer.start()`")
        if self._sub is None:
            self._sub = await self.js.pull_subscribe_bind(
                self.settings.durable, stream=self.settings.stream
            )
        msgs = await self._fetch(self._sub, batch, timeout)
        if msgs is None:
            # The server answers, but not with messages: the consumer or stream was deleted or
            # is unavailable. Report not-ready and, if it persists, provision/bind again.
            self._fetch_errors += 1
            if self._fetch_errors >= _REBIND_AFTER:
                await self._rebind()
            else:
                await asyncio.sleep(min(timeout, 1.0))
            return []
        self._fetch_errors = 0
        return msgs

    async def fetch_advisories(self, batch: int, timeout: float) -> list[Msg]:
        """Advisories, or [] on timeout. Failures are counted apart from the main consumer's
        and, if they persist, only the advisory subscription is provisioned and bound again."""
        sub = self._adv_sub
        if sub is None:
            if self._adv_wanted:
                await self._rebind_advisories()
            await asyncio.sleep(timeout)
            return []
        msgs = await self._fetch(sub, batch, timeout, what="advisory")
        if msgs is None:
            self._adv_errors += 1
            if self._adv_errors >= _REBIND_AFTER:
                await self._rebind_advisories()
            else:
                await asyncio.sleep(min(timeout, 1.0))
            return []
        self._adv_errors = 0
        return msgs

    @property
    def has_advisories(self) -> bool:
        return self._adv_sub is not None or self._adv_wanted

    async def _fetch(
        self,
        sub: JetStreamContext.PullSubscription,
        batch: int,
        timeout: float,
        what: str = "consumer",
    ) -> list[Msg] | None:
        """Messages, [] on timeout or after rebuilding a closed connection, ``None`` when the
        server refused (the caller counts it against the consumer it fetched from)."""
        nc = self._nc
        try:
            return await sub.fetch(batch, timeout=timeout)
        except TimeoutError:  # nats.errors.TimeoutError, or asyncio's from nats-py
            return []
        except (nats.errors.ConnectionClosedError, nats.errors.ConnectionDrainingError):
            await self._rebuild(nc)
            return []
        except nats.errors.BadSubscriptionError:
            return []  # a re-bind unsubscribed it meanwhile; the next call uses the new one
        except nats.js.errors.APIError as exc:
            log.warning("%s fetch refused by the server (%s)", what, exc)
            return None

    async def _rebind_advisories(self) -> None:
        """Provision (if enabled) and bind the advisory consumer again; on failure, log and
        let the next call retry. The main consumer and readiness are left alone."""
        try:
            js = self.js
            stream: str | None
            if self.settings.provision:
                stream = await ensure_dlq(js, self.settings, await self._source_replicas(js))
            else:
                stream = await find_advisory_stream(js, self.settings)
            await self._bind_advisories(stream)
            if stream is None:
                await asyncio.sleep(_REBUILD_DELAY)  # ops have not made it again yet
            else:
                log.info("advisory consumer %s bound again", self.settings.advisory_durable)
        except Exception as exc:
            log.warning(
                "re-binding advisory consumer %s failed (%s: %s); the worker keeps consuming "
                "and retries",
                self.settings.advisory_durable,
                type(exc).__name__,
                exc,
            )
            await asyncio.sleep(_REBUILD_DELAY)

    async def _source_replicas(self, js: JetStreamContext) -> int:
        """The source stream's replica count, which the DLQ streams follow (``ensure_dlq``)."""
        try:
            info = await js.stream_info(self.settings.stream)
        except (nats.errors.Error, TimeoutError):
            return 1
        return info.config.num_replicas or 1

    async def _rebind(self) -> None:
        async with self._rebuild_lock:
            try:
                await self.start(self._batch_hint)
                log.info("consumer %s bound again", self.settings.durable)
            except Exception as exc:
                log.warning("re-binding %s failed (%s)", self.settings.durable, exc)
                await asyncio.sleep(_REBUILD_DELAY)

    async def _rebuild(self, broken: Client | None) -> None:
        """The connection is closed for good: make a new one and bind again, until it works.

        The fetch loop and the advisory loop can both notice; the lock and the ``broken`` check
        make sure only the first rebuilds.
        """
        if not self._owns_connection:
            raise nats.errors.ConnectionClosedError
        async with self._rebuild_lock:
            if self._nc is not broken and self._nc is not None and not self._nc.is_closed:
                return  # someone else already rebuilt it
            await self._rebuild_locked()

    async def _rebuild_locked(self) -> None:
        while True:
            log.warning("nats connection closed; rebuilding it and re-binding the consumer")
            try:
                await self.start(self._batch_hint)  # the closed connection is replaced
                return
            except Exception as exc:  # any failure here is retried: the worker must not die
                log.warning("rebuild failed (%s: %s); retrying", type(exc).__name__, exc)
                await asyncio.sleep(_REBUILD_DELAY)

    # -- continuous pull -------------------------------------------------------------------

    async def consume(
        self,
        deliver: Deliver,
        *,
        window: int,
        batch: int,
        expires: float = 30.0,
        heartbeat: float | None = None,
        max_bytes: int = 0,
        progress: Callable[[], None] | None = None,
    ) -> None:
        """Pass every message to ``deliver`` (synchronously, in arrival order) until
        ``stop_consuming()``; then drain the inbox (messages already sent still reach
        ``deliver``) and return. At most ``window`` messages are requested or held at a
        time; call ``release()`` once per message when done with it.

        ``heartbeat`` defaults to a sixth of ``expires`` (at most 5 s); two silent intervals
        re-send the pull requests. ``progress`` is called on every control tick while the
        window is not fully held (liveness: waiting for the server is not a stall).
        Once ``stop_consuming()`` was called (even before), it returns at once.
        """
        hb = heartbeat if heartbeat is not None else min(5.0, expires / 6)
        pull = ContinuousPull(
            stream=self.settings.stream,
            durable=self.settings.durable,
            deliver=deliver,
            window=window,
            batch=batch,
            expires=expires,
            heartbeat=hb,
            max_bytes=max_bytes,
        )
        pull.on_wake(self._wake.set)
        self._pull = pull
        self._consuming = True
        tick = min(1.0, hb / 2)
        healthy = 0
        try:
            while not self._stop_consuming:
                try:
                    await self._pull_step(pull)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # never let the loop die; the next tick retries
                    log.warning("pull failed (%s: %s); retrying", type(exc).__name__, exc)
                    await asyncio.sleep(tick)
                signals = pull.stats.messages + pull.stats.heartbeats + pull.stats.timeouts
                if signals != healthy and pull.problem is None:
                    healthy = signals
                    self._fetch_errors = 0
                if progress is not None and pull.held < pull.window:
                    progress()
                if self._stop_consuming:
                    break
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(tick):
                        await self._wake.wait()
        finally:
            self._consuming = False
            await pull.detach(drain=True)

    async def _pull_step(self, pull: ContinuousPull) -> None:
        """One tick of the control loop: recover what needs recovering, then top up."""
        nc = self._nc
        if nc is None or nc.is_closed:
            await self._rebuild(nc)
        if pull.problem is not None:
            # The consumer was deleted or is unavailable. Report not-ready and, if it
            # persists, provision/bind again (the same policy fetch() follows).
            self._fetch_errors += 1
            log.warning(
                "consumer %s unavailable (%s); attempt %d",
                self.settings.durable,
                pull.problem,
                self._fetch_errors,
            )
            if self._fetch_errors >= _REBIND_AFTER:
                await self._rebind()
            else:
                await asyncio.sleep(min(1.0, pull.heartbeat))
            pull.problem = None
            pull.reset("consumer bound again" if self._fetch_errors >= _REBIND_AFTER else "retry")
        if pull.attached is not self._nc and self._nc is not None:
            await pull.attach(self._nc)
        missed = pull.check()
        if missed:
            log.warning("consumer %s: %s; re-sending pull requests", self.settings.durable, missed)
        await pull.top_up()

    def release(self, n: int = 1) -> None:
        """The caller of ``consume()`` is done with ``n`` delivered messages."""
        if self._pull is not None:
            self._pull.release(n)

    def stop_consuming(self) -> None:
        """Make ``consume()`` stop pulling, drain its inbox and return (idempotent)."""
        self._stop_consuming = True
        self._wake.set()

    @property
    def pull_inbox(self) -> str | None:
        """The inbox the pull requests name as their reply subject (diagnostics, tests)."""
        return self._pull.inbox if self._pull is not None else None

    @property
    def pull_stats(self) -> PullStats | None:
        """What the server sent on the pull inbox (heartbeats, 408/409/...), once consuming."""
        return self._pull.stats if self._pull is not None else None

    async def close(self) -> None:
        """Flush pending acks, then close the connection (if we opened it).

        Not ``drain()``: it waits for each subscription's pending queue to empty, and a pull
        subscription's queue only empties by fetching, so a message that arrived after the last
        fetch timed out would hold it for the whole drain timeout. Such a message is simply
        redelivered after ack_wait.
        """
        nc = self._nc
        if nc is None or nc.is_closed:
            return
        try:
            await nc.flush(timeout=5)
        except Exception as exc:
            log.warning("flush before close failed (%s: %s)", type(exc).__name__, exc)
        if self._owns_connection:
            try:
                await nc.close()
            except Exception as exc:  # e.g. nats-py's ConnectionResetError during an outage
                log.warning("closing the connection failed (%s: %s)", type(exc).__name__, exc)


async def _unsubscribe(sub: JetStreamContext.PullSubscription | None) -> None:
    """Drop a subscription a re-bind replaces; on a closed connection there is nothing left."""
    if sub is None:
        return
    try:
        await sub.unsubscribe()
    except Exception as exc:
        log.debug("unsubscribing a replaced subscription failed (%s: %s)", type(exc).__name__, exc)
