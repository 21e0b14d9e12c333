"""``qxgen publish`` starts a trace: every message carries a valid W3C traceparent, from the
OTel SDK's PRODUCER span when ``OTEL_*`` configures one, else freshly generated."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from qx.embedded import EmbeddedNatsServer
from qx.telemetry._produce import new_traceparent
from tests.cli.conftest import EXAMPLE
from tests.cli.test_publish import PUBLISHED, stored

pytestmark = pytest.mark.nats

TRACEPARENT = re.compile(r"^00-(?P<trace>[0-9a-f]{32})-(?P<span>[0-9a-f]{16})-[0-9a-f]{2}$")


def publish(url: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "qxgen",
            "publish",
            "orders.order.placed",
            "--example",
            "--url",
            url,
        ],
        cwd=EXAMPLE,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


def sent_traceparent(server: EmbeddedNatsServer, out: str) -> re.Match[str]:
    found = PUBLISHED.search(out)
    assert found, out
    headers, _ = stored(server.url, int(found["seq"]))[0]
    match = TRACEPARENT.match(headers.get("traceparent", ""))
    assert match, headers
    assert match["trace"] != "0" * 32
    assert match["span"] != "0" * 16
    return match


def test_without_telemetry_a_fresh_trace_context_is_sent(shop_server: EmbeddedNatsServer) -> None:
    first = sent_traceparent(shop_server, publish(shop_server.url).stdout)
    second = sent_traceparent(shop_server, publish(shop_server.url).stdout)
    assert first["trace"] != second["trace"]  # each publish starts its own trace


def test_with_an_sdk_the_producer_span_is_the_parent(shop_server: EmbeddedNatsServer) -> None:
    done = publish(shop_server.url, OTEL_TRACES_EXPORTER="console")
    sent = sent_traceparent(shop_server, done.stdout)
    spans = [json.loads(chunk) for chunk in re.findall(r"^\{.*?^\}", done.stdout, re.S | re.M)]
    producer = [s for s in spans if s["kind"] == "SpanKind.PRODUCER"]
    assert len(producer) == 1, done.stdout
    assert producer[0]["context"]["trace_id"] == "0x" + sent["trace"]
    assert producer[0]["context"]["span_id"] == "0x" + sent["span"]
    assert producer[0]["attributes"]["messaging.destination.name"] == "orders.order.placed.v1"


def test_a_generated_traceparent_is_valid() -> None:
    for _ in range(100):
        assert TRACEPARENT.match(new_traceparent())
