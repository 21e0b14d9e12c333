"""Events whose schema root is ``allOf`` of refs, a ``$ref``, ``oneOf`` or ``anyOf`` are real
``IntegrationEvent``s: published through a real nats-server and read back through the
generated registry, they carry the same payload."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import nats
import pytest

from qx.events import NatsPublisher, parse_envelope
from tests.generator.conftest import GOLDEN

pytestmark = pytest.mark.nats


async def test_every_root_shape_publishes_and_reads_back(
    nats_url: str, unique_name: str, on_path: list[Path]
) -> None:
    out = GOLDEN / "root_shapes" / "expected"
    sys.path.insert(0, str(out))
    on_path.append(out)
    module = importlib.import_module("golden_root_shapes.integration.registry")
    registry = module.build_registry()
    prefix = unique_name.lower()
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        await js.add_stream(name=unique_name, subjects=[f"{prefix}.>"])
        publisher = NatsPublisher(nc, source="tests")
        sent = []
        for cls, schema_file in module.EVENTS:
            schema = json.loads(
                (out / "golden_root_shapes/integration/event_schemas" / schema_file).read_text()
            )
            for example in schema["examples"]:
                event = registry.build(cls.__qx_type__, cls.__qx_version__, example)
                await publisher.publish(event, subject=f"{prefix}.{cls.__qx_subject__}")
                sent.append((cls, example))
        assert {cls.__name__ for cls, _ in sent} == {
            "ShapesAllofV1",
            "ShapesAnyofV1",
            "ShapesOneofV1",
            "ShapesRefV1",
        }
        sub = await js.pull_subscribe(f"{prefix}.>", durable=unique_name)
        messages = await sub.fetch(len(sent), timeout=5)
        assert len(messages) == len(sent)
        for message, (cls, example) in zip(messages, sent, strict=True):
            envelope = parse_envelope(message.subject, message.headers, message.data)
            event = registry.build(envelope.event_type, envelope.event_version, envelope.data)
            assert type(event) is cls
            assert envelope.data == example
            assert event.to_json_data() == example
            await message.ack()
    finally:
        await nc.close()
