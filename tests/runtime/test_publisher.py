"""Publishing: size checked against the server's max_payload, retries deduplicated."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client

from qx.embedded import EmbeddedNatsServer
from qx.events import NatsPublisher, publish_with_retry
from qx.exceptions import PayloadTooLargeError, PublishError
from tests.runtime.events import OrderPlaced

pytestmark = pytest.mark.nats


@pytest.fixture
def small_server(tmp_path: Path) -> Iterator[EmbeddedNatsServer]:
    with EmbeddedNatsServer(tmp_path, max_payload=4096) as server:
        yield server


async def test_oversize_message_is_refused_before_sending_and_connection_survives(
    small_server: EmbeddedNatsServer,
) -> None:
    nc: Client = await nats.connect(small_server.url)
    try:
        js = nc.jetstream()
        await js.add_stream(name="S", subjects=["orders.>"])
        publisher = NatsPublisher(nc, source="tests")
        # Body alone fits (nats-py would send it), but with the CloudEvents headers it does not.
        big = OrderPlaced(order_id="x" * 3800, total=1)
        with pytest.raises(PayloadTooLargeError, match="max_payload of 4096"):
            await publisher.publish(big)
        assert nc.is_connected
        ack = await publisher.publish(OrderPlaced(order_id="small", total=1))
        assert ack.seq == 1
    finally:
        await nc.close()


async def test_retried_publish_with_same_id_is_deduplicated(
    nats_url: str, unique_name: str
) -> None:
    nc: Client = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        subject = f"{unique_name.lower()}.orders.order.placed.v1"
        await js.add_stream(name=unique_name, subjects=[f"{unique_name.lower()}.>"])
        publisher = NatsPublisher(nc, source="tests")
        event = OrderPlaced(order_id="o", total=1)
        first = await publisher.publish(event, subject=subject, event_id="same-id")
        again = await publisher.publish(event, subject=subject, event_id="same-id")
        assert again.duplicate
        assert again.seq == first.seq
        with pytest.raises(PublishError, match="not acknowledged"):
            await publish_with_retry(
                nc, "no.stream.here", b"{}", {"Nats-Msg-Id": "x"}, attempts=2, retry_delay=0.01
            )
    finally:
        await nc.close()
