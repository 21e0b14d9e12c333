"""``make demo-trace`` as a user runs it: one trace across HTTP, outbox, relay and worker."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHAIN = [
    ("POST /orders", "SERVER"),
    ("outbox write demo.order.created.v1", "INTERNAL"),
    ("send demo.order.created.v1", "PRODUCER"),
    ("process demo.order.created.v1", "CONSUMER"),
    ("handle billing", "INTERNAL"),
]


class _Collector(BaseHTTPRequestHandler):
    received: list[tuple[str, bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        self.received.append((self.path, body))
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def otlp_collector() -> Iterator[tuple[str, list[tuple[str, bytes]]]]:
    """A minimal OTLP/HTTP receiver: records what the exporter POSTs."""
    received: list[tuple[str, bytes]] = []
    handler = type("Collector", (_Collector,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", received
    server.shutdown()
    server.server_close()


def _run(env: dict[str, str]) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "qxgen.demo_trace"],
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "80", **env},
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def _tree(out: str) -> tuple[str, list[tuple[int, str, str, float]]]:
    (trace_id,) = re.findall(r"^trace ([0-9a-f]{32})$", out, re.M)
    rows = []
    for line in out.splitlines():
        m = re.match(r"^([ │├└─]*)(.+?) \[([A-Z]+)\]\s+([0-9.]+)ms\s+([0-9.]+)ms$", line)
        if m:
            rows.append((len(m[1]), m[2], m[3], float(m[5])))
    return trace_id, rows


@pytest.mark.slow
def test_demo_trace_prints_one_trace_across_the_four_hops(
    otlp_collector: tuple[str, list[tuple[str, bytes]]],
) -> None:
    endpoint, received = otlp_collector
    out = _run({"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_METRICS_EXPORTER": "none"})
    assert all(len(line) <= 80 for line in out.splitlines()), out
    trace_id, rows = _tree(out)
    assert [(name, kind) for _, name, kind, _ in rows] == CHAIN, out
    indents = [indent for indent, *_ in rows]
    assert indents == sorted(set(indents)), out  # each hop is the child of the one before
    assert all(duration > 0 for *_, duration in rows), out
    # The same spans went to the OTLP endpoint, carrying the printed trace id.
    traces = [body for path, body in received if path == "/v1/traces"]
    assert traces, received
    assert any(bytes.fromhex(trace_id) in body for body in traces)
