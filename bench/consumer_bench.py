"""qx worker vs a plain nats-py loop vs FastStream: throughput, CPU per message, RSS, latency.

One command, one table:

    .venv/bin/python bench/consumer_bench.py            # 50k events x 5 interleaved runs
    .venv/bin/python bench/consumer_bench.py --quick    # 10k x 2, short latency runs
    make bench                                          # the same, with the bench extra

What runs (each run in a fresh child process, so CPU time and peak RSS are its own):

* ``plain``  the hand-written loop: ``fetch(256)`` + pydantic ``model_validate_json`` + ``ack``;
* ``floor``  qx's transport alone: its continuous pull and an ack per message, nothing else.
  What nats-py, asyncio and the pull cost; ``qx`` minus ``floor`` is qx's own pipeline;
* ``qx``     the worker exactly as a generated ``build()`` makes it (``qx.service.worker_app``:
  dishka container with every handler, JSON-schema validation on, provisioning on);
* ``qx*N``   N such workers in N processes on one durable (what ``QX_PROCESSES=N`` runs);
  by default N = the number of cores, up to 4;
* ``faststream`` (if installed, ``pip install -e '.[bench]'``) a JetStream pull subscriber
  (batch 256) with a pydantic-typed handler, acking after success.

Each system runs under asyncio and, if installed, uvloop (``--loops``). The events are
CloudEvents from qx's own encoder with a W3C ``traceparent`` header, as producers send them;
no OTel SDK is installed, so tracing costs only what the API's no-op path costs.

Throughput: ``--count`` events preloaded once, each run drains them through a new durable
consumer; the timed window starts when the system starts consuming and ends when its handler
has seen the last event. CPU is ``process_time()`` over that window, per message. Runs are
interleaved (system order rotates every repetition) and reported as median [min-max].

Latency: for each ``--rates`` value a fresh durable (deliver new) is started, then the parent
publishes at that rate for ``--latency-seconds``; the handler records publish-to-handler
time (the publish timestamp travels in the payload), reported as p50/p99.

The numbers are only comparable within one run: the table gives ratios to ``plain``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import nats
import profile_share  # bench/ is on sys.path when this script runs
from nats.aio.client import Client
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StorageType, StreamConfig

STREAM = "BENCH"
PREFIX = "bench"
SUBJECT = f"{PREFIX}.orders.order.placed.v1"
DURABLE_CONFIG = {"ack_wait": 30.0, "max_deliver": 5, "max_ack_pending": 1000}
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

ORDER_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["order_id", "customer_id", "total", "currency", "items"],
    "properties": {
        "order_id": {"type": "string", "minLength": 1},
        "customer_id": {"type": "string", "minLength": 1},
        "total": {"type": "number", "minimum": 0},
        "currency": {"type": "string", "enum": ["EUR", "USD", "GBP"]},
        "items": {"type": "integer", "minimum": 1},
        "note": {"type": "string"},
    },
    "additionalProperties": False,
}


def order_class() -> Any:
    from qx.events import IntegrationEvent

    class OrderPlaced(IntegrationEvent):
        __qx_type__: ClassVar[str] = "orders.order.placed"
        __qx_version__: ClassVar[int] = 1
        __qx_subject__: ClassVar[str | None] = SUBJECT

        order_id: str
        customer_id: str
        total: float
        currency: str
        items: int
        note: str = ""

    return OrderPlaced


# -- parent: server, preload, runs, table ----------------------------------------------------


def make_payload(cls: Any, i: int, order_id: str | None = None) -> Any:
    return cls(
        order_id=order_id or f"o-{i:08d}",
        customer_id=f"c-{i % 997:05d}",
        total=round(10 + (i % 5000) / 7, 2),
        currency=("EUR", "USD", "GBP")[i % 3],
        items=1 + i % 9,
        note="deliver to the back door, ring twice; fragile: glassware " * 2,
    )


def encode(cls: Any, i: int, order_id: str | None = None) -> tuple[bytes, dict[str, str]]:
    from qx.events import encode_cloudevent

    out = encode_cloudevent(
        make_payload(cls, i, order_id),
        source="bench",
        subject=SUBJECT,
        event_id=str(uuid.uuid4()),
        correlation_id=f"corr-{i}",
        tenant_id="acme corp",
        extra_headers={"traceparent": TRACEPARENT},
    )
    return out.body, out.headers


async def preload(nc: Client, count: int) -> int:
    js = nc.jetstream()
    await js.add_stream(
        StreamConfig(
            name=STREAM,
            subjects=[f"{PREFIX}.>"],
            storage=StorageType.FILE,
            max_age=3600.0,
            duplicate_window=120.0,
        )
    )
    cls = order_class()
    size = 0
    for first in range(0, count, 2000):
        futures = []
        for i in range(first, min(first + 2000, count)):
            body, headers = encode(cls, i)
            size = len(body) + sum(len(k) + len(v) + 4 for k, v in headers.items())
            futures.append(await js.publish_async(SUBJECT, body, headers=headers))
        await asyncio.gather(*futures)
    return size


async def add_durable(nc: Client, durable: str, deliver: DeliverPolicy) -> None:
    await nc.jetstream().add_consumer(
        STREAM,
        ConsumerConfig(
            durable_name=durable,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=deliver,
            filter_subject=SUBJECT,
            **DURABLE_CONFIG,  # type: ignore[arg-type]
        ),
    )


async def check_drained(nc: Client, durable: str) -> str:
    js = nc.jetstream()
    info = await js.consumer_info(STREAM, durable)
    for _ in range(40):  # the server applies acks asynchronously
        if not info.num_ack_pending and not info.num_pending:
            break
        await asyncio.sleep(0.05)
        info = await js.consumer_info(STREAM, durable)
    problems = []
    if info.num_pending or info.num_ack_pending:
        problems.append(f"pending={info.num_pending} ack_pending={info.num_ack_pending}")
    if info.num_redelivered:
        problems.append(f"redelivered={info.num_redelivered}")
    return ", ".join(problems)


def child_spec(
    args: argparse.Namespace, mode: str, system: str, loop: str, url: str, durable: str, **more: Any
) -> dict[str, Any]:
    """What a child process runs: one system, one mode, the run's shared settings."""
    return {
        "mode": mode,
        "system": system,
        "loop": loop,
        "url": url,
        "durable": durable,
        "count": args.count,
        "concurrency": args.concurrency,
        "batch": args.batch,
        "tracing": args.tracing,
        **more,
    }


def run_child(args: argparse.Namespace, wrap: Sequence[str] = (), **child: Any) -> dict[str, Any]:
    cmd = [*wrap, sys.executable, __file__, "--child", json.dumps(child)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=args.child_timeout)
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode != 0 or not lines:
        raise RuntimeError(f"child {child} failed ({out.returncode}):\n{out.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


async def drain_runs(args: argparse.Namespace, url: str, systems: list[tuple[str, str]]) -> list:
    nc = await nats.connect(url)
    results: list[dict[str, Any]] = []
    try:
        for rep in range(args.repeat):
            order = systems[rep % len(systems) :] + systems[: rep % len(systems)]
            for system, loop in order:
                durable = f"d_{system.replace('*', 'x')}_{loop}_{rep}"
                # The same durable config for all (what qx provisions; qx re-applies it).
                await add_durable(nc, durable, DeliverPolicy.ALL)
                base, _, copies = system.partition("*")
                if copies:
                    r = await run_shared(args, nc, url, durable, base, int(copies), loop)
                else:
                    spec = child_spec(args, "drain", system, loop, url, durable)
                    r = await asyncio.to_thread(run_child, args, **spec)
                r["problems"] = await check_drained(nc, durable)
                await nc.jetstream().delete_consumer(STREAM, durable)
                r.update(system=system, loop=loop, rep=rep)
                results.append(r)
                print(
                    f"  run {rep} {system:<10} {loop:<8} {r['rate']:>8,.0f} msg/s "
                    f"{r['cpu_us']:>6.1f} µs CPU/msg {r['rss_mb']:>6.1f} MB"
                    + (f"  !! {r['problems']}" if r["problems"] else ""),
                    file=sys.stderr,
                )
    finally:
        await nc.close()
    return results


async def run_shared(
    args: argparse.Namespace,
    nc: Client,
    url: str,
    durable: str,
    system: str,
    processes: int,
    loop: str,
) -> dict[str, Any]:
    """``processes`` children of one system on one durable (what ``QX_PROCESSES`` does). The
    timed window runs from the first child being ready until the server's ack floor reaches
    the last event; CPU is the children's total."""
    spec = json.dumps(child_spec(args, "shared", system, loop, url, durable))
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--child",
            spec,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(processes)
    ]
    started = 0.0
    for proc in procs:
        assert proc.stdout is not None
        if b"READY" not in await asyncio.wait_for(proc.stdout.readline(), 120):
            raise RuntimeError("a shared child did not start")
        started = started or time.perf_counter()
    js = nc.jetstream()
    # The condition lives on the server (every event acked, by whichever process): poll it.
    while (await js.consumer_info(STREAM, durable)).ack_floor.stream_seq < args.count:  # noqa: ASYNC110
        await asyncio.sleep(0.02)
    wall = time.perf_counter() - started
    outs = []
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        out, err = await asyncio.wait_for(proc.communicate(), 120)
        lines = [ln for ln in out.decode().splitlines() if ln.startswith("{")]
        if proc.returncode != 0 or not lines:
            raise RuntimeError(f"shared child failed: {err.decode()[-2000:]}")
        outs.append(json.loads(lines[-1]))
    return {
        "handled": sum(o["handled"] for o in outs),
        "seconds": wall,
        "rate": args.count / wall,
        "cpu_us": sum(o["cpu_s"] for o in outs) / args.count * 1e6,
        "rss_mb": max(o["rss_mb"] for o in outs),
    }


async def profile_run(args: argparse.Namespace, url: str) -> None:
    """One more drain per profiled system under py-spy (sampling from outside the process,
    non-blocking: the drain runs at full speed), then where its CPU went, by package."""
    spy = Path(sys.executable).parent / "py-spy"
    out = Path(args.profile)  # made by parse_args
    dumps: dict[str, Path] = {}
    cpu: dict[str, float] = {}
    nc = await nats.connect(url)
    try:
        for system in args.profile_systems:
            durable = f"d_profile_{system}"
            await add_durable(nc, durable, DeliverPolicy.ALL)
            dumps[system] = out / f"{system}.txt"
            wrap = [str(spy), "record", "--nonblocking", "--full-filenames", "-f", "raw"]
            wrap += ["-r", str(profile_share.RATE)]
            spec = child_spec(args, "drain", system, args.loops[0], url, durable)
            wrap += ["-o", str(dumps[system]), "--"]
            result = await asyncio.to_thread(run_child, args, wrap, **spec)
            cpu[system] = result["cpu_us"]
            await nc.jetstream().delete_consumer(STREAM, durable)
    finally:
        await nc.close()
    print(profile_share.report(dumps, args.count, cpu), file=sys.stderr)
    print(f"(collapsed stacks in {out}, one file per system)", file=sys.stderr)


async def latency_runs(
    args: argparse.Namespace, url: str, systems: list[tuple[str, str]]
) -> list[dict[str, Any]]:
    nc = await nats.connect(url)
    js = nc.jetstream()
    cls = order_class()
    results: list[dict[str, Any]] = []
    try:
        for rate in args.rates:
            for system, loop in systems:
                if "*" in system or system == "floor":
                    continue  # latency is per process; the floor only measures cost
                durable = f"l_{system}_{loop}_{rate}"
                total = int(rate * args.latency_seconds)
                await add_durable(nc, durable, DeliverPolicy.NEW)
                child = json.dumps(
                    child_spec(args, "latency", system, loop, url, durable, count=total)
                )
                proc = await asyncio.create_subprocess_exec(
                    sys.executable,
                    __file__,
                    "--child",
                    child,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.PIPE,
                )
                assert proc.stdout is not None
                ready = await asyncio.wait_for(proc.stdout.readline(), 60)
                if b"READY" not in ready:
                    err = await proc.stderr.read() if proc.stderr else b""
                    raise RuntimeError(f"latency child did not start: {err.decode()[-2000:]}")
                interval = 1.0 / rate
                started = time.perf_counter()
                pending = []
                for i in range(total):
                    due = started + i * interval
                    delay = due - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    body, headers = encode(cls, i, order_id=str(time.time_ns()))
                    pending.append(await js.publish_async(SUBJECT, body, headers=headers))
                    if len(pending) >= 500:
                        await asyncio.gather(*pending)
                        pending.clear()
                await asyncio.gather(*pending)
                out, err = await asyncio.wait_for(proc.communicate(), args.child_timeout)
                lines = [ln for ln in out.decode().splitlines() if ln.startswith("{")]
                if proc.returncode != 0 or not lines:
                    raise RuntimeError(f"latency child failed: {err.decode()[-2000:]}")
                r = json.loads(lines[-1])
                r.update(system=system, loop=loop, rate=rate)
                await js.delete_consumer(STREAM, durable)
                results.append(r)
                print(
                    f"  {rate}/s {system:<10} {loop:<8} p50 {r['p50_ms']:.2f} ms "
                    f"p99 {r['p99_ms']:.2f} ms",
                    file=sys.stderr,
                )
    finally:
        await nc.close()
    return results


def fmt_range(values: Sequence[float], spec: str) -> str:
    return (
        f"{statistics.median(values):{spec}} "
        f"[{min(values):{spec.lstrip(',')}}-{max(values):{spec.lstrip(',')}}]"
    )


def print_report(
    args: argparse.Namespace,
    env: dict[str, Any],
    drains: list[dict[str, Any]],
    lats: list[dict[str, Any]],
) -> None:
    print(
        f"\n{env['count']:,} events of ~{env['event_bytes']} B (CloudEvents headers incl. "
        f"traceparent), {env['repeat']} interleaved runs, python {env['python']}, "
        f"{env['cpus']} cpus, load average at start {env['loadavg']}"
    )
    print(f"qx: concurrency={args.concurrency} batch={args.batch}, DI container + validation on")
    print(
        "tracing: "
        + ("OTel SDK, batch span processor, in every system" if args.tracing else "no SDK")
    )
    keys = sorted({(r["system"], r["loop"]) for r in drains}, key=lambda k: (k[1], k[0]))
    medians = {
        k: statistics.median(r["rate"] for r in drains if (r["system"], r["loop"]) == k)
        for k in keys
    }
    cpu_med = {
        k: statistics.median(r["cpu_us"] for r in drains if (r["system"], r["loop"]) == k)
        for k in keys
    }
    header = (
        f"{'system':<11}{'loop':<8}{'msg/s median [min-max]':>28}{'x plain':>9}"
        f"{'CPU µs/msg [min-max]':>26}{'x plain':>9}{'peak RSS MB':>13}"
    )
    print("\n" + header + "\n" + "-" * len(header))
    for k in keys:
        rs = [r for r in drains if (r["system"], r["loop"]) == k]
        base = ("plain", k[1])
        ratio = medians[k] / medians[base] if base in medians else float("nan")
        cpu_ratio = cpu_med[k] / cpu_med[base] if base in cpu_med else float("nan")
        print(
            f"{k[0]:<11}{k[1]:<8}{fmt_range([r['rate'] for r in rs], ',.0f'):>28}"
            f"{ratio:>9.2f}{fmt_range([r['cpu_us'] for r in rs], '.1f'):>26}{cpu_ratio:>9.2f}"
            f"{max(r['rss_mb'] for r in rs):>13.1f}"
        )
    problems = [r for r in drains if r["problems"]]
    for r in problems:
        print(f"!! {r['system']}/{r['loop']} run {r['rep']}: {r['problems']}")
    if ("qx", "asyncio") in medians and ("faststream", "asyncio") in medians:
        q, f = medians[("qx", "asyncio")], medians[("faststream", "asyncio")]
        print(f"qx / faststream (asyncio): {q / f:.2f}x")
    if lats:
        print(f"\nlatency, publish -> handler, {args.latency_seconds:g} s at each fixed rate")
        header = f"{'rate':>6} {'system':<11}{'loop':<8}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}"
        print(header + "\n" + "-" * len(header))
        for r in lats:
            print(
                f"{r['rate']:>6} {r['system']:<11}{r['loop']:<8}{r['p50_ms']:>9.2f}"
                f"{r['p99_ms']:>9.2f}{r['max_ms']:>9.2f}"
            )


async def parent(args: argparse.Namespace) -> int:
    from qx.embedded import EmbeddedNatsServer

    systems = [(s, loop) for loop in args.loops for s in args.systems]
    env = {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "loadavg": " ".join(f"{x:.1f}" for x in os.getloadavg()),
        "count": args.count,
        "repeat": args.repeat,
    }
    with tempfile.TemporaryDirectory(prefix="qx-bench-") as tmp, EmbeddedNatsServer(tmp) as srv:
        nc = await nats.connect(srv.url)
        try:
            env["event_bytes"] = await preload(nc, args.count)
        finally:
            await nc.close()
        print(f"preloaded {args.count:,} events; systems: {systems}", file=sys.stderr)
        drains = await drain_runs(args, srv.url, systems)
        if args.profile:
            await profile_run(args, srv.url)
        lats = await latency_runs(args, srv.url, systems) if args.rates else []
    if args.json:
        print(json.dumps({"env": env, "drain": drains, "latency": lats}, indent=2))
    else:
        print_report(args, env, drains, lats)
    return 0


# -- children: one system, one run ------------------------------------------------------------


class Done:
    """Counts handled events; in latency mode records publish-to-handler times."""

    def __init__(self, count: int, latency: bool) -> None:
        self.count = count
        self.n = 0
        self.latency = latency
        self.samples: list[float] = []
        self.event = asyncio.Event()

    def hit(self, order_id: str) -> None:
        if self.latency:
            self.samples.append((time.time_ns() - int(order_id)) / 1e6)
        self.n += 1
        if self.n >= self.count:
            self.event.set()


async def child_plain(c: dict[str, Any], done: Done, ready: asyncio.Event) -> None:
    from opentelemetry import propagate, trace
    from opentelemetry.trace import SpanKind

    cls = order_class()
    tracer = trace.get_tracer("bench.plain") if c.get("tracing") else None
    nc = await nats.connect(c["url"])
    try:
        sub = await nc.jetstream().pull_subscribe_bind(c["durable"], stream=STREAM)
        ready.set()
        while not done.event.is_set():
            try:
                msgs = await sub.fetch(256, timeout=1.0)
            except nats.errors.TimeoutError:
                continue
            for msg in msgs:
                if tracer is None:
                    event = cls.model_validate_json(msg.data)
                    await msg.ack()
                else:  # what a hand-written loop would do: continue the producer's trace
                    parent = propagate.extract(msg.headers or {})
                    with tracer.start_as_current_span(
                        f"process {msg.subject}", context=parent, kind=SpanKind.CONSUMER
                    ):
                        event = cls.model_validate_json(msg.data)
                        await msg.ack()
                done.hit(event.order_id)
        await nc.flush()
    finally:
        await nc.close()


async def child_floor(c: dict[str, Any], done: Done, ready: asyncio.Event) -> None:
    """qx's transport and nothing else: the continuous pull (``NatsConsumer.consume``) and an
    ack per message; no decode, validation, DI, tracing or handler. Its CPU per message is what
    nats-py, asyncio and the pull cost; ``qx`` minus ``floor`` is qx's own pipeline."""
    from collections import deque

    from qx.events import ConsumerSettings, NatsConsumer, NatsSettings

    consumer = NatsConsumer(
        NatsSettings(url=c["url"]),
        ConsumerSettings(
            stream=STREAM,
            durable=c["durable"],
            subjects=[f"{PREFIX}.>"],
            ack_wait=DURABLE_CONFIG["ack_wait"],
            max_deliver=DURABLE_CONFIG["max_deliver"],
            provision=False,
        ),
    )
    await consumer.start()
    ready.set()
    inbox: deque[Any] = deque()
    arrived = asyncio.Event()

    def deliver(msg: Any) -> None:
        inbox.append(msg)
        arrived.set()

    async def settle() -> None:
        while not done.event.is_set():
            await arrived.wait()
            arrived.clear()
            n = len(inbox)
            for _ in range(n):
                await inbox.popleft().ack()
                done.hit("")
            consumer.release(n)
        consumer.stop_consuming()

    window = c["concurrency"] + c["batch"]  # what the worker asks for
    settling = asyncio.create_task(settle())
    try:
        await consumer.consume(deliver, window=window, batch=c["batch"])
        await settling
    finally:
        await consumer.close()


async def child_qx(c: dict[str, Any], done: Done, ready: asyncio.Event) -> None:
    from qx.core import Result
    from qx.cqrs import integration_event_handler
    from qx.events import EventRegistry, NatsSettings
    from qx.service import worker_app
    from qx.worker import WorkerSettings

    cls = order_class()
    ok: Result[None] = Result.success(None)

    @integration_event_handler(cls)
    class Handler:
        async def handle(self, event: Any) -> Result[None]:
            done.hit(event.order_id)
            return ok

    settings = WorkerSettings(
        stream=STREAM,
        durable=c["durable"],
        concurrency=c["concurrency"],
        batch=c["batch"],
        ack_wait=DURABLE_CONFIG["ack_wait"],
        max_deliver=DURABLE_CONFIG["max_deliver"],
        dlq_stream="BENCH_DLQ",
        # Latency runs skip the backlog with a deliver-new durable, which provisioning (deliver
        # all) may not change; provisioning happens once at startup, outside the timed window.
        provision=c["mode"] == "drain",
    )
    registry = EventRegistry(validate_payloads=settings.validate_payloads)
    registry.register(cls, schema=ORDER_SCHEMA)
    async with worker_app(
        settings=settings, registry=registry, handlers=[Handler], nats=NatsSettings(url=c["url"])
    ) as worker:
        running = asyncio.create_task(worker.run())
        await worker.wait_running()
        ready.set()
        await done.event.wait()
        await worker.stop()
        await running


async def child_faststream(c: dict[str, Any], done: Done, ready: asyncio.Event) -> None:
    from faststream import AckPolicy as FsAck
    from faststream.nats import NatsBroker, PullSub

    cls = order_class()
    middlewares: list[Any] = []
    if c.get("tracing"):
        from faststream.nats.opentelemetry import NatsTelemetryMiddleware

        middlewares.append(NatsTelemetryMiddleware())
    broker = NatsBroker(c["url"], logger=None, middlewares=middlewares)

    @broker.subscriber(
        SUBJECT,
        stream=STREAM,
        durable=c["durable"],
        pull_sub=PullSub(batch_size=256, timeout=1.0),
        ack_policy=FsAck.REJECT_ON_ERROR,
    )
    async def handle(event: cls) -> None:  # type: ignore[valid-type]
        done.hit(event.order_id)  # type: ignore[attr-defined]

    await broker.start()
    ready.set()
    try:
        await done.event.wait()
    finally:
        await broker.stop()


async def child(c: dict[str, Any]) -> dict[str, Any]:
    shared = c["mode"] == "shared"  # one of several on a durable: run until SIGTERM
    done = Done(10**12 if shared else c["count"], latency=c["mode"] == "latency")
    if shared:
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, done.event.set)
    ready = asyncio.Event()
    run = {
        "plain": child_plain,
        "floor": child_floor,
        "qx": child_qx,
        "faststream": child_faststream,
    }[c["system"]]
    task = asyncio.create_task(run(c, done, ready))
    waiter = asyncio.create_task(ready.wait())
    await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        task.result()
        raise RuntimeError("system stopped before it was ready")
    if c["mode"] in ("latency", "shared"):
        print("READY", flush=True)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    finished = asyncio.create_task(done.event.wait())
    await asyncio.wait({task, finished}, return_when=asyncio.FIRST_COMPLETED)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    await asyncio.wait_for(task, 60)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out: dict[str, Any] = {
        "handled": done.n,
        "seconds": wall,
        "rate": done.n / wall,
        "cpu_us": cpu / max(done.n, 1) * 1e6,
        "cpu_s": cpu,
        "rss_mb": rss,
    }
    if done.samples:
        s = sorted(done.samples)
        out.update(
            p50_ms=s[len(s) // 2], p99_ms=s[min(len(s) - 1, int(len(s) * 0.99))], max_ms=s[-1]
        )
    return out


def install_tracing() -> None:
    """An OTel SDK with a batch span processor whose exporter drops the spans: the cost of
    creating, annotating and queueing spans, not of shipping them."""
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        SpanExporter,
        SpanExportResult,
    )

    class Drop(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(Drop()))
    trace.set_tracer_provider(provider)


def child_main(spec: str) -> int:
    c = json.loads(spec)
    import logging

    logging.basicConfig(level=logging.ERROR)
    if c.get("tracing"):
        install_tracing()
    if c["loop"] == "uvloop":
        import uvloop

        result = uvloop.run(child(c))
    else:
        result = asyncio.run(child(c))
    print(json.dumps(result), flush=True)
    return 0


def available_loops() -> list[str]:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return ["asyncio"]
    return ["asyncio", "uvloop"]


def available_systems() -> list[str]:
    """plain, qx's transport floor, qx, qx on every core (up to 4 processes), and FastStream
    if installed."""
    systems = ["plain", "floor", "qx"]
    cores = min(os.cpu_count() or 1, 4)
    if cores > 1:
        systems.append(f"qx*{cores}")
    try:
        import faststream  # noqa: F401
    except ImportError:
        return systems
    return [*systems, "faststream"]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Drain and latency benchmark: plain nats-py, qx worker, FastStream.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--count", type=int, help="events per drain run (default 50,000)")
    p.add_argument("--repeat", type=int, help="interleaved runs per system (default 5)")
    p.add_argument("--quick", action="store_true", help="10k events, 2 runs, 3 s latency runs")
    p.add_argument(
        "--systems",
        default=",".join(available_systems()),
        help="plain, qx, faststream; 'qx*2' = two qx processes on one durable (QX_PROCESSES)",
    )
    p.add_argument("--loops", default=",".join(available_loops()))
    p.add_argument("--rates", default="1000,2000", help="latency rates (msg/s); '' for none")
    p.add_argument("--latency-seconds", type=float, help="per rate (default 10)")
    p.add_argument("--concurrency", type=int, default=8, help="qx WorkerSettings.concurrency")
    p.add_argument("--batch", type=int, default=64, help="qx WorkerSettings.batch")
    p.add_argument("--child-timeout", type=float, default=600.0)
    p.add_argument(
        "--tracing",
        action="store_true",
        help="OTel SDK (batch span processor, spans dropped) in every system; the plain loop "
        "then opens a consumer span per message",
    )
    p.add_argument("--json", action="store_true")
    p.add_argument(
        "--profile",
        metavar="DIR",
        help="also drain once per --profile-systems under py-spy (collapsed stacks to DIR) "
        "and print where the CPU went, grouped by package",
    )
    p.add_argument("--profile-systems", default="plain,qx", help="systems to profile")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    quick = args.quick
    args.count = args.count or (10_000 if quick else 50_000)
    args.repeat = args.repeat or (2 if quick else 5)
    args.latency_seconds = args.latency_seconds or (3.0 if quick else 10.0)
    args.systems = [s for s in args.systems.split(",") if s]
    args.profile_systems = [s for s in args.profile_systems.split(",") if s]
    if args.profile:
        Path(args.profile).mkdir(parents=True, exist_ok=True)
    args.loops = [s for s in args.loops.split(",") if s]
    args.rates = [int(r) for r in args.rates.split(",") if r]
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        return child_main(args.child)
    return asyncio.run(parent(args))


if __name__ == "__main__":
    sys.exit(main())
