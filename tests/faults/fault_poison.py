"""A corpus of poison messages (36 kinds) mixed into valid traffic: every poison message is
dead-lettered once with its own reason, every valid one is handled, nothing is lost.

Poison is published raw (``HPUB`` on a socket), as a producer in any language could.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from qx.dlq import DlqRecord
from qx.embedded import EmbeddedNatsServer
from qx.events import NatsPublisher
from qx.transport import build_header_block
from tests.faults.harness import (
    WorkerProcess,
    account,
    connect,
    dlq_records,
    handled_lines,
    provision_stream,
    publish_until_acked,
    wait_until,
)
from tests.runtime.rawpub import raw_publish

pytestmark = pytest.mark.nats

SUBJECT = "faults.orders.order.placed.v1"
GOOD = json.dumps({"order_id": "x", "total": 1}).encode()
Pairs = list[tuple[str, str]]


def ce(event_id: str = "p", drop: str = "", **extra: str) -> Pairs:
    base = [
        ("ce-specversion", "1.0"),
        ("ce-id", event_id),
        ("ce-type", "orders.order.placed"),
        ("ce-source", "poison"),
    ]
    return [(k, v) for k, v in base if k != drop] + [
        (k.replace("_", "-"), v) for k, v in extra.items()
    ]


def structured(**doc: object) -> bytes:
    base: dict[str, object] = {
        "specversion": "1.0",
        "id": "st",
        "type": "orders.order.placed",
        "source": "poison",
        "data": {"order_id": "x", "total": 1},
    }
    base.update(doc)
    return json.dumps({k: v for k, v in base.items() if v is not None}).encode()


def qx_doc(**doc: object) -> bytes:
    base: dict[str, object] = {
        "event_name": "orders.order.placed",
        "event_id": "q",
        "event_version": 1,
        "payload": {"order_id": "x", "total": 1},
    }
    base.update(doc)
    return json.dumps({k: v for k, v in base.items() if v is not None}).encode()


BIG_HEADERS = ce("big-h") + [(f"X-Pad-{i:02}", "p" * 900) for i in range(70)]

# kind: (headers, body, expected reason)
CORPUS: dict[str, tuple[Pairs, bytes, str]] = {
    "invalid JSON": (ce(), b"{not json", "invalid_json"),
    "empty body": (ce(), b"", "invalid_json"),
    "binary junk": (ce(), bytes(range(256)), "invalid_json"),
    "invalid UTF-8 body": (ce(), b'\xff\xfe{"order_id": "x"}', "invalid_json"),
    "UTF-16 body": (ce(), '{"order_id": "x", "total": 1}'.encode("utf-16"), "invalid_json"),
    "nested 100k deep": (ce(), b"[" * 100_000 + b"]" * 100_000, "invalid_json"),
    "no headers, JSON body": ([], GOOD, "missing_envelope_field"),
    "no headers, empty body": ([], b"", "invalid_json"),
    "missing ce-id": (ce(drop="ce-id"), GOOD, "missing_envelope_field"),
    "missing ce-type": (ce(drop="ce-type"), GOOD, "missing_envelope_field"),
    "missing ce-source": (ce(drop="ce-source"), GOOD, "missing_envelope_field"),
    "empty ce-id": (ce(""), GOOD, "missing_envelope_field"),
    "specversion 0.3": (
        ce(drop="ce-specversion", ce_specversion="0.3"),
        GOOD,
        "unsupported_specversion",
    ),
    "specversion garbage": (
        ce(drop="ce-specversion", ce_specversion="\u00e9t\u00e9"),
        GOOD,
        "unsupported_specversion",
    ),
    "unknown type": (
        ce(drop="ce-type", ce_type="orders.order.cancelled"),
        GOOD,
        "unknown_event_type",
    ),
    "unknown version": (ce(ce_qxversion="9"), GOOD, "unknown_event_type"),
    "garbage ce-qxversion": (ce(ce_qxversion="v1x"), GOOD, "missing_envelope_field"),
    "unknown dataschema version": (
        ce(ce_dataschema="https://x/orders/placed/v7.json"),
        GOOD,
        "unknown_event_type",
    ),
    "schema: negative total": (ce(), b'{"order_id": "x", "total": -1}', "schema_invalid"),
    "schema: missing field": (ce(), b'{"total": 1}', "schema_invalid"),
    "schema: extra field": (ce(), b'{"order_id": "x", "total": 1, "evil": true}', "schema_invalid"),
    "schema: wrong type": (ce(), b'{"order_id": 7, "total": "many"}', "schema_invalid"),
    "JSON array body": (ce(), b"[]", "schema_invalid"),
    "JSON null body": (ce(), b"null", "schema_invalid"),
    "~900 KB body": (
        ce("big-b"),
        b'{"order_id": "' + b"x" * 900_000 + b'", "total": -5}',
        "schema_invalid",
    ),
    "~64 KB header block": (BIG_HEADERS, b"{not json", "invalid_json"),
    "non-ASCII headers": (
        ce("zo\u00eb", X_Note="zo\u00eb \u2713 \u65e5\u672c"),
        b"{not json",
        "invalid_json",
    ),
    "invalid percent-encoding ce-id": (ce("p-%zz-%E0%A4"), GOOD, "invalid_percent_encoding"),
    "non-UTF-8 escape in ce-type": (
        ce(drop="ce-type", ce_type="orders%FFplaced"),
        GOOD,
        "invalid_percent_encoding",
    ),
    "trailing % in ce-tenantid": (ce(ce_tenantid="acme%"), GOOD, "invalid_percent_encoding"),
    "repeated ce-id + bad JSON": ([*ce("r1"), ("ce-id", "r2")], b"{nope", "invalid_json"),
    "odd-cased CE headers, bad JSON": (
        [(k.upper(), v) for k, v in ce("ODD")],
        b"{",
        "invalid_json",
    ),
    "structured with data_base64": (
        [],
        structured(data=None, data_base64="eyJ9"),
        "missing_envelope_field",
    ),
    "structured, specversion 2.0": ([], structured(specversion="2.0"), "unsupported_specversion"),
    "legacy Qx without payload": ([], qx_doc(payload=None), "missing_envelope_field"),
    "legacy Qx bad event_version": ([], qx_doc(event_version="one"), "missing_envelope_field"),
    "legacy Qx unknown event": (
        [("qx.event_name", "nope.event"), ("qx.event_id", "q2")],
        qx_doc(),
        "unknown_event_type",
    ),
}


async def test_poison_corpus_mixed_into_valid_traffic(
    server: EmbeddedNatsServer, tmp_path: Path
) -> None:
    assert len(CORPUS) >= 30
    started = time.monotonic()
    log = tmp_path / "handled.log"
    nc = await connect(server.url)
    await provision_stream(nc, "FAULTS", "faults.>")
    publisher = NatsPublisher(nc, source="faults")
    kinds: dict[int, str] = {}  # stream seq -> poison kind
    valid: dict[str, int] = {}  # event id -> stream seq
    for i, (kind, (headers, body, _)) in enumerate(CORPUS.items()):
        for j in range(10):
            order_id = f"v-{i}-{j}"
            valid[order_id] = await publish_until_acked(publisher, SUBJECT, order_id)
        seq = await raw_publish(server.url, SUBJECT, build_header_block(headers), body)
        kinds[seq] = kind
    worker = WorkerProcess(server.url, "FAULTS", "faults.>", log)
    try:
        worker.start()
        await wait_until(lambda: set(handled_lines(log)) >= set(valid), 60, "valid handled")

        async def all_recorded() -> bool:
            return {r.stream_seq for r in await dlq_records(nc)} >= set(kinds)

        try:
            await wait_until(all_recorded, 30, "every poison message recorded", interval=0.3)
        except AssertionError:
            recorded = {r.stream_seq for r in await dlq_records(nc)}
            missing = [kinds[s] for s in kinds if s not in recorded]
            raise AssertionError(f"not dead-lettered: {missing}") from None
    finally:
        worker.stop()
    records = await dlq_records(nc)
    reasons = {kinds.get(r.stream_seq, "?"): r.reason for r in records}
    expected = {kind: f"poison:{reason}" for kind, (_, _, reason) in CORPUS.items()}
    assert reasons == expected
    assert all(r.attempts == 1 for r in records)  # poison is not retried

    def key(record: DlqRecord) -> str:
        return f"seq:{record.stream_seq}"

    account(
        f"poison corpus ({len(CORPUS)} kinds) + valid",
        [f"seq:{s}" for s in [*kinds, *valid.values()]],
        [f"seq:{valid[x]}" for x in handled_lines(log) if x in valid],
        records,
        started,
        expect_dead={f"seq:{s}" for s in kinds},
        record_key=key,
        kinds=len(CORPUS),
    )
    await nc.close()
