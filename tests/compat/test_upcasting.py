"""Upcasting: a v1 message reaches the v2 handler through a typed, user-written upcaster."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import nats
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from qx.events import EventRegistry, IntegrationEvent, NatsPublisher
from qx.events._registry import UPCAST_FROM, UPCAST_TO
from qx.exceptions import ConfigurationError
from qx.testing import WorkerHarness
from qx.worker import Settled

# One global tracer provider per process: share the runtime tests' fixture and exporter.

SERVICE = Path(__file__).resolve().parents[2] / "examples" / "shop_service"


class PingV1(IntegrationEvent):
    __qx_type__ = "test.ping"
    __qx_version__ = 1
    name: str


class PingV2(IntegrationEvent):
    __qx_type__ = "test.ping"
    __qx_version__ = 2
    first: str
    last: str | None = None


class PingV3(IntegrationEvent):
    __qx_type__ = "test.ping"
    __qx_version__ = 3
    first: str
    last: str | None
    loud: bool


def v1_to_v2(event: PingV1) -> PingV2:
    first, _, last = event.name.partition(" ")
    return PingV2(first=first, last=last or None)


def v2_to_v3(event: PingV2) -> PingV3:
    return PingV3(first=event.first, last=event.last, loud=False)


def registry() -> EventRegistry:
    reg = EventRegistry()
    for cls in (PingV1, PingV2, PingV3):
        reg.register(cls)
    return reg


def test_upcasters_chain_and_mark_span_and_log(caplog: pytest.LogCaptureFixture) -> None:
    reg = registry()
    reg.register_upcaster(PingV1, PingV2, v1_to_v2)
    reg.register_upcaster(PingV2, PingV3, v2_to_v3)
    tracer = TracerProvider().get_tracer("test")
    with caplog.at_level(logging.INFO, "qx.events"), tracer.start_as_current_span("p") as span:
        event = reg.build("test.ping", 1, {"name": "Ada Lovelace"})
    assert event == PingV3(first="Ada", last="Lovelace", loud=False)
    attributes = span.attributes or {}  # type: ignore[attr-defined]
    assert attributes[UPCAST_FROM] == 1
    assert attributes[UPCAST_TO] == 3
    assert "upcast test.ping v1 -> v3" in caplog.text
    assert reg.build("test.ping", 3, {"first": "a", "last": None, "loud": True}).loud is True


def test_old_payload_is_validated_before_upcasting() -> None:
    reg = registry()
    reg.register_upcaster(PingV1, PingV2, v1_to_v2)
    with pytest.raises(Exception, match="payload does not match PingV1"):
        reg.build("test.ping", 1, {"first": "no name"})


def test_bad_upcasters_are_refused() -> None:
    reg = registry()
    with pytest.raises(ConfigurationError, match="older to a newer"):
        reg.register_upcaster(PingV2, PingV1, lambda e: PingV1(name=e.first))
    reg.register_upcaster(PingV1, PingV2, v1_to_v2)
    with pytest.raises(ConfigurationError, match="already has an upcaster"):
        reg.register_upcaster(PingV1, PingV2, v1_to_v2)
    wrong = registry()
    wrong.register_upcaster(PingV1, PingV2, lambda e: e)  # type: ignore[arg-type,return-value]
    with pytest.raises(TypeError, match="returned PingV1, not PingV2"):
        wrong.build("test.ping", 1, {"name": "x"})


async def run_example_with_upcaster(
    nats_url: str, monkeypatch: pytest.MonkeyPatch, make_upcast: Any
) -> list[Settled]:
    """Publish the v1 example to the example service whose registry has a v1 -> v2 upcaster."""
    monkeypatch.syspath_prepend(str(SERVICE))
    monkeypatch.setenv("NATS_URL", nats_url)
    from shop_service import worker as worker_module
    from shop_service.integration.events import UserRegisteredV1, UserRegisteredV2
    from shop_service.integration.registry import build_registry, load_schema

    def with_upcaster(*, validate_payloads: bool = True) -> EventRegistry:
        reg = build_registry(validate_payloads=validate_payloads)
        reg.register_upcaster(UserRegisteredV1, UserRegisteredV2, make_upcast(UserRegisteredV2))
        return reg

    monkeypatch.setattr(worker_module, "build_registry", with_upcaster)
    example = load_schema("identity.user.registered.v1.json")["examples"][0]
    nc = await nats.connect(nats_url)
    try:
        async with (
            worker_module.build(worker_module.Settings()) as worker,
            WorkerHarness(worker) as h,
        ):
            await NatsPublisher(nc, source="test").publish(UserRegisteredV1.model_validate(example))
            return await h.wait_settled(1)
    finally:
        await nc.close()


@pytest.mark.nats
async def test_v1_message_is_handled_by_the_v2_handler_on_a_real_server(
    fresh_nats_url: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    request: pytest.FixtureRequest,
) -> None:
    exporter: InMemorySpanExporter = request.getfixturevalue("spans")

    def make_upcast(v2: Any) -> Any:
        def upcast(event: Any) -> Any:
            return v2(
                user_id=event.user_id,
                email=event.email,
                given_name=event.display_name,
                registered_at=event.registered_at,
            )

        return upcast

    with caplog.at_level(logging.INFO):
        settled = await run_example_with_upcaster(fresh_nats_url, monkeypatch, make_upcast)
    assert settled[0].decision == "ack"
    assert "upcast identity.user.registered v1 -> v2" in caplog.text
    # The v2 handler's own log line: it names the locale (v2's default), the v1 handler does not.
    assert "welcome mail (en) queued for Ada <ada@example.com>" in caplog.text
    assert "welcome mail queued for" not in caplog.text
    consumer = [s for s in exporter.get_finished_spans() if s.kind == SpanKind.CONSUMER]
    assert len(consumer) == 1
    attributes = consumer[0].attributes or {}
    assert attributes[UPCAST_FROM] == 1
    assert attributes[UPCAST_TO] == 2


@pytest.mark.nats
async def test_a_failing_upcaster_dead_letters_with_the_reason(
    fresh_nats_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def make_upcast(v2: Any) -> Any:
        def upcast(event: Any) -> Any:
            raise NotImplementedError("upcaster not written yet")

        return upcast

    settled = await run_example_with_upcaster(fresh_nats_url, monkeypatch, make_upcast)
    assert settled[0].decision == "dead_letter"
    assert settled[0].dead_letter_written is True
    assert "upcaster not written yet" in (settled[0].error or "") + (settled[0].reason or "")
