"""WorkerRuntime throughput against a plain nats-py ``fetch + validate + ack`` loop.

Starts its own nats-server (``qx.embedded.EmbeddedNatsServer``) on loopback with a temporary
file store, preloads ``--count`` CloudEvents-encoded events into one stream (not measured), then
drains the same data through each variant, every run with a fresh durable consumer:

* ``plain``          fetch(batch) -> json.loads + pydantic model_validate -> ack, one task;
* ``plain+schema``   the same plus a raw JSON-schema check (jsonschema-rs, as qx does it);
* ``runtime``        ``WorkerRuntime`` with payload schema validation off;
* ``runtime+schema`` ``WorkerRuntime`` with the event registered with its JSON schema;
* ``runtime+trace``  as ``runtime+schema`` (or ``runtime`` with ``--no-validate``) with an OTel
  SDK ``TracerProvider`` installed (``--tracing``). Its span processor drops spans, so this is
  the cost of creating and annotating spans, not of exporting them.

Without ``--tracing`` no provider is installed, so the OTel API is a no-op, which is the case the
issue's target (runtime >= 0.6 x plain) is about. The timed window of a run starts at the first
fetch and ends when the last message has been acked (ack is a buffered publish, no round trip,
in both loops). Variants are interleaved across ``--repeat`` runs so drift hits all alike;
traced runs come last because an OTel tracer provider cannot be uninstalled.

    .venv/bin/python bench/runtime_vs_plain.py                   # 50k events, 3 runs
    .venv/bin/python bench/runtime_vs_plain.py --tracing --repeat 5
    .venv/bin/python bench/runtime_vs_plain.py --no-validate --json
    .venv/bin/python bench/runtime_vs_plain.py --profile /tmp/rt.prof --count 20000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import json
import logging
import os
import platform
import pstats
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

import jsonschema_rs
import nats
from nats.aio.client import Client
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StorageType, StreamConfig

from qx.core import Result
from qx.cqrs import Mediator, integration_event_handler
from qx.embedded import EmbeddedNatsServer
from qx.events import (
    ConsumerSettings,
    EventRegistry,
    IntegrationEvent,
    NatsConsumer,
    NatsSettings,
    encode_cloudevent,
)
from qx.worker import WorkerRuntime

log = logging.getLogger("bench")

STREAM = "BENCH"
SUBJECT_PREFIX = "bench"
MAX_ACK_PENDING = 1000  # what qx provisions by default (qx/events/_provision.py)

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
    },
    "additionalProperties": False,
}


class OrderPlaced(IntegrationEvent):
    __qx_type__: ClassVar[str] = "orders.order.placed"
    __qx_version__: ClassVar[int] = 1

    order_id: str
    customer_id: str
    total: float
    currency: str
    items: int


SUBJECT = f"{SUBJECT_PREFIX}.orders.order.placed.v1"
_OK: Result[None] = Result.success(None)


# -- variants ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    name: str
    kind: str  # plain | runtime
    schema: bool
    tracing: bool = False


@dataclass
class RunResult:
    variant: str
    run: int
    messages: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.messages / self.seconds


@dataclass
class Summary:
    variant: str
    rates: list[float]
    best: float
    median: float
    ratio_best: float | None = None
    ratio_median: float | None = None
    overhead_us_median: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def build_variants(validate: bool | None, tracing: bool) -> list[Variant]:
    """``validate=None`` (neither flag given) measures schema validation both off and on."""
    variants = [Variant("plain", "plain", schema=False)]
    with_schema = validate is None or validate
    without_schema = validate is None or not validate
    if with_schema:
        variants.append(Variant("plain+schema", "plain", schema=True))
    if without_schema:
        variants.append(Variant("runtime", "runtime", schema=False))
    if with_schema:
        variants.append(Variant("runtime+schema", "runtime", schema=True))
    if tracing:
        variants.append(Variant("runtime+trace", "runtime", schema=with_schema, tracing=True))
    return variants


# -- setup ---------------------------------------------------------------------------------


def make_event(i: int) -> OrderPlaced:
    return OrderPlaced(
        order_id=f"o-{i:08d}",
        customer_id=f"c-{i % 997:05d}",
        total=round(10 + (i % 5000) / 7, 2),
        currency=("EUR", "USD", "GBP")[i % 3],
        items=1 + i % 9,
    )


async def create_stream(nc: Client) -> None:
    """The same stream config qx provisions (limits retention, file storage)."""
    await nc.jetstream().add_stream(
        StreamConfig(
            name=STREAM,
            subjects=[f"{SUBJECT_PREFIX}.>"],
            storage=StorageType.FILE,
            max_age=3600.0,
            duplicate_window=120.0,
        )
    )


async def preload(nc: Client, count: int, chunk: int = 2000) -> float:
    """Publish ``count`` CloudEvents (qx's encoder, so headers are what producers send) with
    publish_async, awaiting PubAcks chunk by chunk. Returns seconds taken."""
    js = nc.jetstream()
    started = time.perf_counter()
    for first in range(0, count, chunk):
        futures = []
        for i in range(first, min(first + chunk, count)):
            out = encode_cloudevent(
                make_event(i),
                source="bench",
                subject=SUBJECT,
                event_id=str(uuid.uuid4()),
                correlation_id=f"corr-{i}",
                tenant_id="acme corp",
            )
            futures.append(await js.publish_async(out.subject, out.body, headers=out.headers))
        acks = await asyncio.gather(*futures)
        if any(ack.duplicate for ack in acks):
            raise RuntimeError("preload produced duplicates; event ids must be unique")
    info = await js.stream_info(STREAM)
    if info.state.messages != count:
        raise RuntimeError(f"stream holds {info.state.messages} messages, expected {count}")
    return time.perf_counter() - started


async def check_drained(nc: Client, durable: str, count: int) -> None:
    """Warn if the consumer did not end with everything acked exactly once. The server applies
    acks asynchronously, so a few may still be pending right after the flush: re-check briefly."""
    js = nc.jetstream()
    for _ in range(20):
        info = await js.consumer_info(STREAM, durable)
        if not info.num_ack_pending:
            break
        await asyncio.sleep(0.05)
    if info.num_pending or info.num_ack_pending or info.num_redelivered:
        log.warning(
            "%s: consumer not cleanly drained (pending=%d ack_pending=%d redelivered=%d)",
            durable,
            info.num_pending,
            info.num_ack_pending,
            info.num_redelivered,
        )
    if info.delivered.stream_seq < count:
        log.warning(
            "%s: only delivered up to seq %d of %d", durable, info.delivered.stream_seq, count
        )


def schema_validator() -> Callable[[Any], bool]:
    """The same engine and options qx.events._validation uses (jsonschema-rs, formats on), so
    plain+schema vs runtime+schema compares the loops, not the validators."""
    validator = jsonschema_rs.validator_for(ORDER_SCHEMA, validate_formats=True, offline=True)
    return validator.is_valid


# -- plain loop ----------------------------------------------------------------------------


async def run_plain(
    url: str, durable: str, count: int, batch: int, schema: bool, decode: str
) -> float:
    """fetch(batch) -> validate -> ack, one message at a time. Returns the timed seconds."""
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        await js.add_consumer(
            STREAM,
            ConsumerConfig(
                durable_name=durable,
                ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=DeliverPolicy.ALL,
                ack_wait=30.0,
                max_deliver=5,
                max_ack_pending=MAX_ACK_PENDING,
                filter_subject=f"{SUBJECT_PREFIX}.>",
            ),
        )
        sub = await js.pull_subscribe_bind(durable, stream=STREAM)
        is_valid = schema_validator() if schema else None
        from_json = decode == "pydantic-json"
        done = 0
        started = time.perf_counter()
        while done < count:
            try:
                msgs = await sub.fetch(batch, timeout=1.0)
            except nats.errors.TimeoutError:
                continue
            for msg in msgs:
                if from_json:
                    OrderPlaced.model_validate_json(msg.data)
                else:
                    data = json.loads(msg.data)
                    if is_valid is not None and not is_valid(data):
                        raise RuntimeError("schema rejected a preloaded event")
                    OrderPlaced.model_validate(data)
                await msg.ack()
                done += 1
        elapsed = time.perf_counter() - started
        await nc.flush()
        await check_drained(nc, durable, count)
        await js.delete_consumer(STREAM, durable)
        return elapsed
    finally:
        await nc.close()


# -- WorkerRuntime -------------------------------------------------------------------------


class _TimedConsumer(NatsConsumer):
    """Records when the runtime issues its first fetch (start of the timed window)."""

    first_fetch: float | None = None

    async def fetch(self, batch: int, timeout: float) -> list[Any]:
        if self.first_fetch is None:
            self.first_fetch = time.perf_counter()
        return await super().fetch(batch, timeout)


class _Counter:
    def __init__(self, target: int) -> None:
        self.n = 0
        self.target = target
        self.done = asyncio.Event()

    def hit(self) -> None:
        self.n += 1
        if self.n >= self.target:
            self.done.set()


def counting_handler(counter: _Counter) -> type[Any]:
    @integration_event_handler(OrderPlaced)
    class CountOrders:
        async def handle(self, event: OrderPlaced) -> Result[None]:
            counter.hit()
            return _OK

    return CountOrders


def make_runtime(
    url: str, durable: str, counter: _Counter, args: argparse.Namespace, schema: bool
) -> tuple[WorkerRuntime, _TimedConsumer]:
    registry = EventRegistry(validate_payloads=schema)
    registry.register(OrderPlaced, schema=ORDER_SCHEMA)
    consumer = _TimedConsumer(
        NatsSettings(url=url),
        ConsumerSettings(
            stream=STREAM,
            durable=durable,
            subjects=[f"{SUBJECT_PREFIX}.>"],
            ack_wait=30.0,
            max_deliver=5,
            max_ack_pending=MAX_ACK_PENDING,
            stream_max_age=3600.0,
            dlq_stream="BENCH_DLQ",
            dlq_subject_prefix="benchdlq",
            advisory_stream="BENCH_ADV",
        ),
    )
    runtime = WorkerRuntime(
        consumer=consumer,
        registry=registry,
        mediator=Mediator([counting_handler(counter)]),
        concurrency=args.concurrency,
        batch=args.batch,
        fetch_timeout=args.fetch_timeout,
    )
    return runtime, consumer


async def run_runtime(
    url: str,
    durable: str,
    args: argparse.Namespace,
    schema: bool,
    profiler: cProfile.Profile | None = None,
) -> float:
    """Drain ``args.count`` messages through WorkerRuntime. Returns the timed seconds."""
    count: int = args.count
    counter = _Counter(count)
    runtime, consumer = make_runtime(url, durable, counter, args, schema)
    task = asyncio.create_task(runtime.run(), name=f"bench-{durable}")
    try:
        if profiler is not None:
            profiler.enable()
        waiter = asyncio.create_task(counter.done.wait())
        await asyncio.wait({waiter, task}, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            waiter.cancel()
            task.result()
            raise RuntimeError("WorkerRuntime.run() returned before draining")
        # Every handler has run; the last acks follow within a few scheduler turns. Polling
        # instead of a settlement listener keeps the runtime's no-listener fast path.
        while runtime.stats.processed < count and not task.done():  # noqa: ASYNC110
            await asyncio.sleep(0)
        finished = time.perf_counter()
        if profiler is not None:
            profiler.disable()
    finally:
        await runtime.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    stats = runtime.stats
    if stats.processed != count or stats.failed or stats.dead_lettered or counter.n != count:
        raise RuntimeError(
            f"{durable}: processed={stats.processed} failed={stats.failed} "
            f"dead_lettered={stats.dead_lettered} handled={counter.n}, expected {count} acks"
        )
    assert consumer.first_fetch is not None
    nc = await nats.connect(url)
    try:
        await check_drained(nc, durable, count)
        js = nc.jetstream()
        await js.delete_consumer(STREAM, durable)
        await js.delete_consumer("BENCH_ADV", consumer.settings.advisory_durable)
    finally:
        await nc.close()
    return finished - consumer.first_fetch


# -- tracing -------------------------------------------------------------------------------


class _SpanCounter:
    """Counts finished spans (proves tracing was on); the processor itself drops them."""

    def __init__(self) -> None:
        self.ended = 0


def install_tracing() -> _SpanCounter:
    try:
        from opentelemetry import trace
        from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
    except ImportError as exc:  # pragma: no cover - the dev extra brings the SDK
        msg = f"--tracing needs opentelemetry-sdk (pip install -e '.[otel]'): {exc}"
        raise SystemExit(msg) from None
    counter = _SpanCounter()

    class CountingProcessor(SpanProcessor):
        def on_end(self, span: ReadableSpan) -> None:
            counter.ended += 1

    provider = TracerProvider()
    provider.add_span_processor(CountingProcessor())
    trace.set_tracer_provider(provider)
    return counter


# -- reporting -----------------------------------------------------------------------------


def summarize(results: list[RunResult], variants: Sequence[Variant]) -> list[Summary]:
    summaries: list[Summary] = []
    for v in variants:
        rates = [r.rate for r in results if r.variant == v.name]
        if rates:
            summaries.append(Summary(v.name, rates, max(rates), statistics.median(rates)))
    plain = next((s for s in summaries if s.variant == "plain"), None)
    if plain is not None:
        for s in summaries:
            s.ratio_best = s.best / plain.best
            s.ratio_median = s.median / plain.median
            s.overhead_us_median = (1 / s.median - 1 / plain.median) * 1e6
    return summaries


def cost_lines(summaries: Sequence[Summary], variants: Sequence[Variant]) -> list[str]:
    """Pairwise per-message costs: what schema validation and tracing add."""
    by = {s.variant: s for s in summaries}

    def delta(a: str, b: str) -> float | None:
        if a in by and b in by:
            return (1 / by[b].median - 1 / by[a].median) * 1e6
        return None

    lines = []
    pairs = [
        ("plain", "plain+schema", "JSON-schema check in the plain loop"),
        ("plain", "runtime", "WorkerRuntime machinery (no schema, no tracing)"),
        ("runtime", "runtime+schema", "JSON-schema check in WorkerRuntime"),
    ]
    trace_v = next((v for v in variants if v.tracing), None)
    if trace_v is not None:
        base = "runtime+schema" if trace_v.schema else "runtime"
        pairs.append((base, "runtime+trace", f"OTel SDK tracing (vs {base})"))
    for a, b, what in pairs:
        d = delta(a, b)
        if d is not None:
            lines.append(f"  {what:<48} {d:+8.1f} µs/msg")
    return lines


def print_table(
    summaries: Sequence[Summary], variants: Sequence[Variant], args: argparse.Namespace
) -> None:
    header = (
        f"{'loop':<16} {'best msg/s':>11} {'median msg/s':>13} {'ratio(med)':>11} "
        f"{'ratio(best)':>12} {'µs/msg(med)':>12} {'overhead µs':>12}"
    )
    print(header)
    print("-" * len(header))
    for s in summaries:
        ratio_m = f"{s.ratio_median:.2f}" if s.ratio_median is not None else "-"
        ratio_b = f"{s.ratio_best:.2f}" if s.ratio_best is not None else "-"
        over = f"{s.overhead_us_median:+.1f}" if s.overhead_us_median is not None else "-"
        print(
            f"{s.variant:<16} {s.best:>11,.0f} {s.median:>13,.0f} {ratio_m:>11} {ratio_b:>12} "
            f"{1e6 / s.median:>12.1f} {over:>12}"
        )
    print()
    print("per-message cost (median runs):")
    for line in cost_lines(summaries, variants):
        print(line)
    by = {s.variant: s for s in summaries}
    print()
    checks = [
        ("runtime", "plain", "issue target, tracing off, no schema check"),
        ("runtime+schema", "plain+schema", "like for like, both check the JSON schema"),
    ]
    for loop, base, what in checks:
        if loop in by and base in by:
            ratio = by[loop].median / by[base].median
            verdict = "PASS" if ratio >= args.target else "FAIL"
            print(f"target {loop} >= {args.target:.2f} x {base} ({what}): {ratio:.2f} -> {verdict}")
    print(f"runs per loop: {args.repeat}; rates per run:")
    for s in summaries:
        print(f"  {s.variant:<16} " + ", ".join(f"{r:,.0f}" for r in s.rates))


# -- main ----------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Drain preloaded events through WorkerRuntime and a plain nats-py loop.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--count", type=int, default=50_000, help="events to preload and drain")
    p.add_argument("--concurrency", type=int, default=8, help="WorkerRuntime worker tasks")
    p.add_argument("--batch", type=int, default=64, help="fetch batch (both loops)")
    p.add_argument(
        "--validate",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="raw JSON-schema payload validation on (--validate) or off (--no-validate); "
        "default: measure both",
    )
    p.add_argument(
        "--tracing",
        action="store_true",
        help="also run WorkerRuntime with an OTel SDK TracerProvider (no-op span processor)",
    )
    p.add_argument("--repeat", type=int, default=3, help="runs per loop; best and median reported")
    p.add_argument("--json", action="store_true", help="print results as JSON instead of a table")
    p.add_argument(
        "--plain-decode",
        choices=["json", "pydantic-json"],
        default="json",
        help="plain loop decoding: json.loads + model_validate (what qx does) or "
        "model_validate_json",
    )
    p.add_argument("--fetch-timeout", type=float, default=1.0, help="WorkerRuntime fetch_timeout")
    p.add_argument("--target", type=float, default=0.6, help="ratio the runtime should reach")
    p.add_argument(
        "--profile",
        metavar="PATH",
        help="after the timed runs, drain once more through WorkerRuntime (schema as --validate, "
        "default off) under cProfile, write pstats to PATH and print the top functions",
    )
    p.add_argument(
        "--only",
        metavar="LOOPS",
        help="comma-separated loops to run (e.g. runtime, for an external profiler); "
        "ratios need plain",
    )
    p.add_argument("--verbose", action="store_true", help="show qx and bench logs")
    args = p.parse_args(argv)
    if args.count < 1 or args.repeat < 1 or args.batch < 1 or args.concurrency < 1:
        p.error("--count, --repeat, --batch and --concurrency must be >= 1")
    return args


def env_info(args: argparse.Namespace) -> dict[str, Any]:
    import nats.aio.client as nats_client
    import pydantic

    return {
        "python": platform.python_version(),
        "nats_py": getattr(nats_client, "__version__", "?"),
        "pydantic": pydantic.VERSION,
        "cpus": os.cpu_count(),
        "count": args.count,
        "concurrency": args.concurrency,
        "batch": args.batch,
        "repeat": args.repeat,
        "plain_decode": args.plain_decode,
    }


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    variants = build_variants(args.validate, args.tracing)
    if args.only:
        wanted = {name.strip() for name in args.only.split(",")}
        unknown = wanted - {v.name for v in variants}
        if unknown:
            raise SystemExit(f"--only: unknown or disabled loops {sorted(unknown)}")
        variants = [v for v in variants if v.name in wanted]
    results: list[RunResult] = []
    spans: _SpanCounter | None = None
    out: dict[str, Any] = {"env": env_info(args)}
    with (
        tempfile.TemporaryDirectory(prefix="qx-bench-") as tmp,
        EmbeddedNatsServer(tmp) as server,
    ):
        out["env"]["nats_server"] = server.url
        nc = await nats.connect(server.url)
        try:
            await create_stream(nc)
            loaded = await preload(nc, args.count)
        finally:
            await nc.close()
        log.info("preloaded %d events in %.1fs", args.count, loaded)
        out["preload_seconds"] = loaded

        async def once(v: Variant, run: int) -> None:
            durable = f"{v.name.replace('+', '_')}_{run}"
            if v.kind == "plain":
                secs = await run_plain(
                    server.url, durable, args.count, args.batch, v.schema, args.plain_decode
                )
            else:
                secs = await run_runtime(server.url, durable, args, v.schema)
            results.append(RunResult(v.name, run, args.count, secs))
            log.info("%-16s run %d: %8.0f msgs/s", v.name, run, args.count / secs)

        untraced = [v for v in variants if not v.tracing]
        traced = [v for v in variants if v.tracing]
        for run in range(args.repeat):
            for v in untraced:
                await once(v, run)
        if traced:
            spans = install_tracing()
            for run in range(args.repeat):
                for v in traced:
                    await once(v, run)
            expected = args.count * args.repeat * len(traced)
            if spans.ended < expected:
                log.warning("tracing on, but only %d of %d spans ended", spans.ended, expected)
            out["spans_ended"] = spans.ended

        if args.profile:
            profiler = cProfile.Profile()
            schema = bool(args.validate)
            await run_runtime(server.url, "profile_0", args, schema, profiler)
            profiler.dump_stats(args.profile)
            buf = io.StringIO()
            pstats.Stats(profiler, stream=buf).sort_stats("tottime").print_stats(30)
            out["profile_path"] = args.profile
            out["profile_top"] = buf.getvalue()

    summaries = summarize(results, variants)
    out["variants"] = [asdict(v) for v in variants]
    out["runs"] = [{**asdict(r), "rate": r.rate} for r in results]
    out["summary"] = [asdict(s) for s in summaries]
    out["_summaries"] = summaries
    out["_variants"] = variants
    return out


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    if not args.verbose:
        logging.getLogger("qx").setLevel(logging.WARNING)
        # Closing a worker's connection logs "nats disconnected; reconnecting" as a warning.
        logging.getLogger("qx.nats").setLevel(logging.ERROR)
        log.setLevel(logging.WARNING)
    out = asyncio.run(bench(args))
    summaries: list[Summary] = out.pop("_summaries")
    variants: list[Variant] = out.pop("_variants")
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    env = out["env"]
    print(
        f"qx WorkerRuntime vs plain nats-py loop: {env['count']:,} events, "
        f"concurrency={env['concurrency']}, batch={env['batch']}, repeat={env['repeat']}, "
        f"python {env['python']}, {env['cpus']} cpus, preload {out['preload_seconds']:.1f}s"
    )
    print(
        "tracing: "
        + (
            f"SDK TracerProvider for runtime+trace ({out.get('spans_ended', 0):,} spans)"
            if args.tracing
            else "off (OTel API no-op)"
        )
    )
    print()
    print_table(summaries, variants, args)
    if "profile_top" in out:
        print(f"\ncProfile of one WorkerRuntime drain (pstats in {out['profile_path']}):")
        print(out["profile_top"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
