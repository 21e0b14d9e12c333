"""A continuous pull on one inbox: pull requests topped up at a threshold, status handled.

Hand-rolled because nats-py 2.16 has only ``PullSubscription.fetch()`` (facts §12), which
sends one request per call, creates a task and a ``wait_for`` per call and returns only when
the batch is full or the timeout hits (§8). ``nats-core``, the lean client that has a
``consume()``, needs Python 3.13. The shape follows nats.go's ``jetstream.Consume()``:

* one core subscription on an inbox; every pull request names it as its reply subject;
* credit: at most ``window`` messages are requested-or-held at a time. Messages count as
  *requested* until they arrive and as *held* until the worker calls ``release()`` after
  settling them. When at least ``threshold`` credits are free, new requests for up to
  ``batch`` messages each are sent; no task, timer or ``wait_for`` per message;
* each request carries ``expires`` and ``idle_heartbeat``; the server ends it with a status
  message (408 with the undelivered counts in ``Nats-Pending-Messages``) and sends ``100``
  heartbeats while it is idle. Silence for two heartbeat intervals while a request is open
  means the requests were lost (server restarted, connection half-dead): the credit is reset
  and requests are sent again, as after a reconnect;
* ``409`` (consumer deleted, leadership change, max waiting/batch/bytes exceeded) and ``503``
  (no responders: the consumer is gone) end requests; the consumer decides what to do
  (re-bind, pause) through ``problem``;
* a consumer leader change loses the open requests with the old leader, and its
  ``409 Leadership Change`` does not always reach the client (docs/jetstream-facts.md §10).
  The server's ``CONSUMER.LEADER_ELECTED`` advisory for this durable is watched on the same
  connection as a second signal: whichever of the two arrives first re-sends the requests to
  the new leader at once; the other, arriving within ``LEADER_SETTLE`` seconds, is the same
  change and is ignored (re-sending twice would ask for up to twice the window), unless the
  advisory names yet another leader.

This module keeps the counts and talks to the server; ``NatsConsumer.consume()`` runs the
control loop around it and owns recovery (re-bind, new connection).
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js.api import Header

log = logging.getLogger("qx.consumer")

# Header names nats-py gives server status messages, and the counts the server adds.
_STATUS = "Status"
_DESCRIPTION = Header.DESCRIPTION  # nats-py keys the description with the enum member
_PENDING_MSGS = "Nats-Pending-Messages"

# How many silent heartbeat intervals make a missed heartbeat (nats.go uses 2 as well).
MISSED_AFTER = 2.0
# Seconds within which a leader-change 409 and a LEADER_ELECTED advisory are one change.
LEADER_SETTLE = 1.0
LEADER_ELECTED = "$JS.EVENT.ADVISORY.CONSUMER.LEADER_ELECTED"
_LEADERSHIP_CHANGE = "leadership change"

Deliver = Callable[[Msg], None]


@dataclass
class PullStats:
    """Counts of what the server sent besides messages; for logs, probes and tests."""

    requests: int = 0
    messages: int = 0
    heartbeats: int = 0
    no_messages: int = 0  # 404
    timeouts: int = 0  # 408: a request expired
    conflicts: int = 0  # 409: deleted, leadership change, limits exceeded
    no_responders: int = 0  # 503
    other_status: int = 0
    missed_heartbeats: int = 0
    leader_changes: int = 0  # from a 409 Leadership Change or a LEADER_ELECTED advisory
    leader: str = ""  # the consumer's leader as the last LEADER_ELECTED advisory named it
    resets: int = 0  # credit reset after a reconnect, a missed heartbeat or an error status
    last_status: str = ""


class ContinuousPull:
    """The counts and wire side of one durable's continuous pull (see the module docstring).

    ``problem`` is set when a status says the consumer cannot serve us right now
    (``"consumer deleted"``, ``"no responders"``, ...); the control loop reads and clears it.
    """

    def __init__(
        self,
        *,
        stream: str,
        durable: str,
        deliver: Deliver,
        window: int,
        batch: int,
        expires: float,
        heartbeat: float,
        max_bytes: int = 0,
        api_prefix: str = "$JS.API",
    ) -> None:
        if window < 1 or batch < 1:
            raise ValueError("window and batch must be >= 1")
        if heartbeat <= 0 or heartbeat * 2 > expires:
            # The server refuses (400) a heartbeat longer than half the request's expiry.
            raise ValueError("heartbeat must be > 0 and at most half of expires")
        self.window = window
        self.batch = min(batch, window)
        self.threshold = max(1, self.batch // 2)
        self.expires = expires
        self.heartbeat = heartbeat
        self.max_bytes = max_bytes
        self.stats = PullStats()
        self.problem: str | None = None
        self._deliver = deliver
        self._subject = f"{api_prefix}.CONSUMER.MSG.NEXT.{stream}.{durable}"
        self.leader_subject = leader_elected_subject(stream, durable)
        self._requested = 0
        self._held = 0
        self._activity = 0  # bumped by anything the server sends to the inbox
        self._seen_activity = 0
        self._last_activity = time.monotonic()
        self._nc: Client | None = None
        self._sub: Subscription | None = None
        self._leader_sub: Subscription | None = None
        self._leader_changed_at = float("-inf")
        self._leader: str | None = None
        self._reconnects = 0
        self._wake: Callable[[], None] = _nothing
        self._paused_until = 0.0
        self._logged: set[str] = set()

    # -- credit ------------------------------------------------------------------------

    @property
    def free(self) -> int:
        return self.window - self._requested - self._held

    @property
    def held(self) -> int:
        return self._held

    @property
    def inbox(self) -> str | None:
        return self._sub.subject if self._sub is not None else None

    @property
    def attached(self) -> Client | None:
        """The connection the inbox is subscribed on."""
        return self._nc

    @property
    def requested(self) -> int:
        return self._requested

    def on_wake(self, wake: Callable[[], None]) -> None:
        """``wake`` is called (synchronously) when new requests should be sent."""
        self._wake = wake

    def release(self, n: int = 1) -> None:
        """The worker is done with ``n`` messages (settled, or handed back)."""
        self._held = max(0, self._held - n)
        if self.free >= self.threshold:
            self._wake()

    def reset(self, why: str) -> None:
        """Forget outstanding requests (the server no longer has them) so they are re-sent."""
        if self._requested:
            log.info("pull requests for %d message(s) reset: %s", self._requested, why)
        self._requested = 0
        self.stats.resets += 1
        self._last_activity = time.monotonic()
        self._wake()

    # -- wire --------------------------------------------------------------------------

    async def attach(self, nc: Client) -> None:
        """Subscribe the inbox on ``nc`` (again, after a new connection) and reset credit."""
        await self.detach(drain=False)
        self._sub = await nc.subscribe(nc.new_inbox(), cb=self._on_msg)
        try:
            self._leader_sub = await nc.subscribe(self.leader_subject, cb=self._on_leader_elected)
        except Exception as exc:  # optional: leader changes are then noticed by heartbeats
            log.warning("not watching consumer leader changes (%s: %s)", type(exc).__name__, exc)
        self._nc = nc  # last: a failed subscribe leaves the pull unattached, tried again
        self._reconnects = nc.stats.get("reconnects", 0)
        self.problem = None
        self.reset("subscribed")

    async def detach(self, *, drain: bool) -> None:
        """Stop receiving. ``drain=True`` unsubscribes, waits for the server to confirm and
        passes on every message that was already on its way, so none waits for ack_wait."""
        sub, self._sub = self._sub, None
        leader_sub, self._leader_sub = self._leader_sub, None
        if leader_sub is not None:
            with contextlib.suppress(Exception):  # a closed connection has nothing to drop
                await leader_sub.unsubscribe()
        if sub is None:
            return
        nc = self._nc
        try:
            if drain and nc is not None and nc.is_connected:
                await sub.drain()  # type: ignore[no-untyped-call]
            else:
                await sub.unsubscribe()
        except Exception as exc:  # a closed connection has nothing left to drain
            log.debug("unsubscribing the pull inbox failed (%s: %s)", type(exc).__name__, exc)

    async def top_up(self) -> int:
        """Send requests while at least ``threshold`` credits are free; returns messages asked."""
        nc, sub = self._nc, self._sub
        if nc is None or sub is None or not nc.is_connected or self.problem:
            return 0
        if self._paused_until and time.monotonic() < self._paused_until:
            return 0  # the control loop's next tick tries again
        asked = 0
        while self.free >= self.threshold:
            n = min(self.free, self.batch)
            request: dict[str, int] = {
                "batch": n,
                "expires": int(self.expires * 1e9),
                "idle_heartbeat": int(self.heartbeat * 1e9),
            }
            if self.max_bytes > 0:
                request["max_bytes"] = self.max_bytes
            if self._requested == 0:
                self._last_activity = time.monotonic()  # heartbeats are owed from now on
            self._requested += n
            self.stats.requests += 1
            asked += n
            await nc.publish(self._subject, json.dumps(request).encode(), reply=sub.subject)
        return asked

    def check(self) -> str | None:
        """Called on every tick of the control loop. Detects reconnects and missed
        heartbeats (and resets credit for both); returns a description if heartbeats were
        missed, for the caller to log."""
        nc = self._nc
        if nc is None:
            return None
        now = time.monotonic()
        if self._activity != self._seen_activity:
            self._seen_activity = self._activity
            self._last_activity = now
        reconnects = nc.stats.get("reconnects", 0)
        if reconnects != self._reconnects:
            self._reconnects = reconnects
            self.reset("reconnected; the server forgot open pull requests")
            return None
        if not nc.is_connected:
            self._last_activity = now  # no heartbeats are owed while disconnected
            return None
        silent = now - self._last_activity
        if self._requested and silent > MISSED_AFTER * self.heartbeat:
            self.stats.missed_heartbeats += 1
            self.reset(f"no heartbeat for {silent:.1f}s")
            return f"no heartbeat or message for {silent:.1f}s (idle_heartbeat={self.heartbeat}s)"
        return None

    # -- the inbox ---------------------------------------------------------------------

    async def _on_msg(self, msg: Msg) -> None:
        """Runs in nats-py's one task for this subscription: no task per message."""
        self._activity += 1
        if msg.reply:  # JetStream messages carry their $JS.ACK reply; status messages none
            if self._requested:
                self._requested -= 1
            self._held += 1
            self.stats.messages += 1
            self._deliver(msg)
            return
        self._on_status(msg)

    def _on_status(self, msg: Msg) -> None:
        headers = msg.headers or {}
        code = headers.get(_STATUS, "")
        description = headers.get(_DESCRIPTION, "")
        self.stats.last_status = f"{code} {description}".strip()
        if code == "100":
            self.stats.heartbeats += 1
            return
        pending = headers.get(_PENDING_MSGS)
        if code == "408":
            self.stats.timeouts += 1
            self._forget(pending)
            return
        if code == "404":
            # Only no_wait requests get this (we send none, but another client may use our
            # inbox by mistake); the request is over, whatever it asked for.
            self.stats.no_messages += 1
            self._forget(pending)
            return
        if code == "409":
            self.stats.conflicts += 1
            lowered = description.lower()
            if "deleted" in lowered:
                self.problem = "consumer deleted"
            elif "max_bytes" in lowered or "maxbytes" in lowered:
                # A message larger than max_bytes could never be delivered: drop the limit.
                log.warning(
                    "a message is larger than the pull max_bytes=%d (%s); pulling without a "
                    "byte limit from now on",
                    self.max_bytes,
                    description,
                )
                self.max_bytes = 0
            elif _LEADERSHIP_CHANGE in lowered:
                self._leader_changed(f"409 {description}")
                return
            else:
                # A server limit (max waiting / batch / expires) refused or ended a request.
                # Logged once per kind: it is rare and recoverable.
                if description not in self._logged:
                    self._logged.add(description)
                    log.info("pull request ended by the server: 409 %s", description)
            if pending is None:
                self._pause()  # refused outright: do not ask again at once
            self._forget(pending)
            return
        if code == "503":
            self.stats.no_responders += 1
            self.problem = "no responders (consumer or stream unavailable)"
            self._forget(None)
            return
        self.stats.other_status += 1
        log.warning("unexpected status on the pull inbox: %s %s", code, description)
        self._pause()
        self._forget(pending)

    async def _on_leader_elected(self, msg: Msg) -> None:
        leader = "?"
        with contextlib.suppress(ValueError, AttributeError):
            leader = str(json.loads(msg.data).get("leader") or "?")
        self._leader_changed(f"consumer leader elected: {leader}", leader)

    def _leader_changed(self, why: str, leader: str | None = None) -> None:
        """The open requests died with the old leader: ask the new one at once.

        One change sends two signals, a 409 (no leader named) and the advisory (naming the new
        leader), in either order: within ``LEADER_SETTLE`` the second is ignored. An advisory
        naming another leader than the one already seen in that window is a second change.
        """
        now = time.monotonic()
        if leader is not None:
            self.stats.leader = leader
        if now - self._leader_changed_at < LEADER_SETTLE:
            if leader is None:
                return  # a 409 of the change just handled
            if self._leader is None or leader == self._leader:
                self._leader = leader  # the advisory of the change a 409 started
                return
        self._leader_changed_at = now
        self._leader = leader  # None when a 409 started it: its advisory names the leader
        self.stats.leader_changes += 1
        self._paused_until = 0.0
        log.info("consumer leader changed (%s); re-sending pull requests", why)
        self.reset(why)

    def _pause(self) -> None:
        self._paused_until = time.monotonic() + min(1.0, self.heartbeat)

    def _forget(self, pending: str | None) -> None:
        """A request ended: drop what it will no longer deliver, or everything if unknown."""
        if pending is not None and pending.isdigit():
            self._requested = max(0, self._requested - int(pending))
        else:
            self._requested = 0
        self._wake()


def leader_elected_subject(stream: str, durable: str) -> str:
    """The advisory the server publishes when ``durable`` on ``stream`` gets a new leader."""
    return f"{LEADER_ELECTED}.{stream}.{durable}"


def _nothing() -> None:
    return None
