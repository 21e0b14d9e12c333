"""Real processes for the fault scenarios: a 3-node cluster, worker processes, and the ledger
that proves published = handled + dead-lettered with nothing lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TypeVar

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client

from qx import ops
from qx.dlq import DlqRecord
from qx.embedded import _port_open, find_nats_server, free_port
from qx.events import ConsumerSettings, NatsPublisher
from qx.exceptions import PublishError
from qx.transport import provision
from tests.runtime.events import OrderPlaced

REPO = Path(__file__).resolve().parents[2]
RESULTS: list[Report] = []  # printed by conftest at the end of the session


# -- servers -------------------------------------------------------------------------------------


T = TypeVar("T")


class ClusterNode:
    def __init__(self, name: str, root: Path, port: int, cluster_port: int, routes: list[int]):
        self.name = name
        self.root = root
        self.port = port
        self.cluster_port = cluster_port
        self.routes = routes
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        routes = ", ".join(f"nats-route://127.0.0.1:{p}" for p in self.routes)
        conf = self.root / "server.conf"
        conf.write_text(
            f"server_name: {self.name}\n"
            f"listen: 127.0.0.1:{self.port}\n"
            f'jetstream {{ store_dir: "{self.root / "js"}" }}\n'
            f"cluster {{ name: qxfaults, listen: 127.0.0.1:{self.cluster_port}, "
            f"routes: [{routes}] }}\n"
        )
        log = (self.root / "server.log").open("ab")
        self.proc = subprocess.Popen(
            [find_nats_server(), "-c", str(conf)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + 10
        while not _port_open(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not start; see {self.root / 'server.log'}")
            time.sleep(0.02)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(sig)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Cluster:
    """Three nats-server processes with routes on 127.0.0.1, each with its own store."""

    def __init__(self, root: Path) -> None:
        ports = [(free_port(), free_port()) for _ in range(3)]
        cluster_ports = [c for _, c in ports]
        self.nodes = [
            ClusterNode(f"n{i + 1}", root / f"n{i + 1}", p, c, cluster_ports)
            for i, (p, c) in enumerate(ports)
        ]

    @property
    def url(self) -> str:
        return ",".join(n.url for n in self.nodes)

    def node(self, name: str) -> ClusterNode:
        return next(n for n in self.nodes if n.name == name)

    def start(self) -> None:
        for node in self.nodes:
            node.start()

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


async def connect(url: str) -> Client:
    return await nats.connect(
        servers=url.split(","), reconnect_time_wait=0.25, max_reconnect_attempts=-1
    )


async def wait_until(
    check: Callable[[], object], timeout: float, what: str, interval: float = 0.1
) -> None:
    """Poll an async or sync condition until true; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(interval)


# -- workers -------------------------------------------------------------------------------------


class WorkerProcess:
    """``tests/faults/worker_proc.py`` as a child process."""

    def __init__(self, url: str, stream: str, subjects: str, log: Path, **opts: float) -> None:
        self.args = [
            sys.executable, "-m", "tests.faults.worker_proc",
            "--url", url, "--stream", stream, "--subjects", subjects, "--log", str(log),
        ]  # fmt: skip
        for key, value in opts.items():
            self.args += [f"--{key.replace('_', '-')}", str(value)]
        self.stderr = log.with_suffix(".stderr")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        err = self.stderr.open("ab")
        self.proc = subprocess.Popen(self.args, cwd=REPO, stderr=err, stdout=err)
        err.close()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def handled_lines(log: Path) -> list[str]:
    try:
        return log.read_text().split()
    except FileNotFoundError:
        return []


# -- publishing ----------------------------------------------------------------------------------


async def provision_stream(
    nc: Client, stream: str, subjects: str, *, replicas: int = 1, ack_wait: float = 2.0
) -> None:
    """What the worker process provisions on start (same durable and settings), done up front
    so publishing can begin before any worker runs. ``replicas`` > 1: the stream is made by
    "ops" first, as R3 source streams are; provisioning then adopts it."""
    js = nc.jetstream()
    if replicas > 1:
        deadline = time.monotonic() + 30
        while True:  # the meta leader and peers take a moment after the cluster starts
            try:
                await js.add_stream(name=stream, subjects=[subjects], num_replicas=replicas)
                break
            except (nats.js.errors.APIError, nats.errors.TimeoutError):
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.25)
    settings = ConsumerSettings(
        stream=stream, durable="faults", subjects=[subjects], ack_wait=ack_wait, max_deliver=3
    )
    await provision(js, settings, batch=256)


async def publish_until_acked(
    publisher: NatsPublisher, subject: str, order_id: str, total: float = 1.0, timeout: float = 60
) -> int:
    """Retry with the same event id (= Nats-Msg-Id) through outages; returns the stream seq."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            ack = await publisher.publish(
                OrderPlaced(order_id=order_id, total=total), subject=subject, event_id=order_id
            )
            return int(ack.seq)
        except (PublishError, nats.errors.Error, OSError) as exc:
            if time.monotonic() > deadline:
                raise AssertionError(f"could not publish {order_id} in {timeout}s: {exc}") from exc
            await asyncio.sleep(0.1)


async def publish_steadily(
    nc: Client, subject: str, ids: Iterable[str], rate: float, published: list[str]
) -> None:
    """Publish at about ``rate`` msg/s (so faults land mid-stream), recording each acked id."""
    publisher = NatsPublisher(nc, source="faults")
    start = time.monotonic()
    for i, order_id in enumerate(ids):
        await publish_until_acked(publisher, subject, order_id)
        published.append(order_id)
        ahead = start + (i + 1) / rate - time.monotonic()
        if ahead > 0:
            await asyncio.sleep(ahead)


# -- accounting ----------------------------------------------------------------------------------


@dataclass
class Report:
    scenario: str
    published: int
    handled: int
    dead_lettered: int
    lost: int
    duplicate_handlings: int
    duplicate_records: int
    seconds: float
    notes: dict[str, object] = field(default_factory=dict)

    def line(self) -> str:
        extra = " ".join(f"{k}={v}" for k, v in self.notes.items())
        return (
            f"{self.scenario:<34} published={self.published} handled={self.handled} "
            f"dead-lettered={self.dead_lettered} lost={self.lost} "
            f"dup-handled={self.duplicate_handlings} dup-records={self.duplicate_records} "
            f"{self.seconds:.1f}s {extra}"
        ).rstrip()


async def settled_api(call: Callable[[], Awaitable[T]], what: str, patience: float = 30.0) -> T:
    """A JetStream API call made again while the cluster settles (timeouts, 503), so the
    scenario tests the worker and not one request's luck."""
    deadline = time.monotonic() + patience
    while True:
        try:
            return await call()
        except (nats.errors.TimeoutError, nats.js.errors.ServiceUnavailableError) as exc:
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: no answer in {patience}s ({exc!r})") from exc
            await asyncio.sleep(0.5)


async def dlq_records(
    nc: Client, dlq_stream: str = "QX_DLQ", patience: float = 60.0
) -> list[DlqRecord]:
    """Every DLQ record, for the final accounting. Right after a node was killed and restarted
    the JetStream API can time out while the cluster settles (a 5 s STREAM.INFO timeout was
    seen once): asked again until it answers, within ``patience``."""
    deadline = time.monotonic() + patience
    while True:
        try:
            with contextlib.suppress(ops.DlqStreamNotFoundError):
                return await ops.list_records(nc, dlq_stream)
            return []
        except (nats.errors.TimeoutError, nats.js.errors.ServiceUnavailableError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


def account(
    scenario: str,
    published: list[str],
    lines: list[str],
    records: list[DlqRecord],
    started: float,
    expect_dead: set[str] | None = None,
    record_key: Callable[[DlqRecord], str] | None = None,
    **notes: object,
) -> Report:
    """published = handled + dead-lettered, by event id (or ``record_key``); duplicates
    counted, not hidden."""
    handled = Counter(lines)
    key = record_key or (lambda r: ops.event_id_of(r) or f"seq:{r.stream_seq}")
    dead = Counter(key(r) for r in records)
    wanted = set(published)
    lost = wanted - set(handled) - set(dead)
    report = Report(
        scenario=scenario,
        published=len(wanted),
        handled=len(set(handled) & wanted),
        dead_lettered=len(set(dead) & wanted),
        lost=len(lost),
        duplicate_handlings=sum(n - 1 for n in handled.values()),
        duplicate_records=sum(n - 1 for n in dead.values()),
        seconds=time.monotonic() - started,
        notes=dict(notes),
    )
    RESULTS.append(report)
    out = os.environ.get("QX_FAULTS_REPORT")
    if out:
        with open(out, "a") as fh:
            fh.write(json.dumps(asdict(report)) + "\n")
    assert not lost, f"{scenario}: {len(lost)} lost, e.g. {sorted(lost)[:5]}"
    assert not set(handled) & set(dead), f"{scenario}: handled and dead-lettered"
    if expect_dead is not None:
        assert set(dead) & wanted == expect_dead, f"{scenario}: wrong dead-letter set"
    return report
