"""The README's "testing your handlers" example, run for real against the example service."""

from __future__ import annotations

from pathlib import Path

import nats
import pytest

from qx.events import NatsPublisher
from qx.testing import WorkerHarness

pytestmark = pytest.mark.nats

SERVICE = Path(__file__).resolve().parents[2] / "examples" / "shop_service"


async def test_user_registered_is_handled(
    fresh_nats_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(SERVICE))
    monkeypatch.setenv("NATS_URL", fresh_nats_url)
    from shop_service.integration.events import UserRegisteredV1
    from shop_service.integration.registry import load_schema
    from shop_service.worker import Settings, build

    example = load_schema("identity.user.registered.v1.json")["examples"][0]
    nc = await nats.connect(fresh_nats_url)
    try:
        async with build(Settings()) as worker, WorkerHarness(worker) as h:
            await NatsPublisher(nc, source="test").publish(UserRegisteredV1.model_validate(example))
            settled = await h.wait_settled(1)
    finally:
        await nc.close()
    assert settled[0].decision == "ack"
    assert settled[0].event_type == "identity.user.registered"
