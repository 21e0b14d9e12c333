"""Every security mode against a real server: the good settings work, the bad ones are
reported as what they are (a refused login, a failed TLS handshake), never as "cannot reach",
and no secret appears in the message."""

from __future__ import annotations

import pytest

from qx import ops
from qx.events import NatsSettings, create_nats_connection
from qx.exceptions import ConfigurationError, NatsUnavailableError
from tests.security.conftest import Mode
from tests.security.servers import ConfServer

pytestmark = pytest.mark.nats


async def test_good_settings_connect_and_use_jetstream(secured: tuple[Mode, ConfServer]) -> None:
    mode, server = secured
    nc = await create_nats_connection(NatsSettings(url=server.url, **mode.good))
    try:
        js = nc.jetstream()
        await js.add_stream(name="SEC", subjects=["sec.>"])
        ack = await js.publish("sec.one", b"{}")
        assert ack.seq == 1
    finally:
        await nc.close()


async def test_bad_settings_are_named_not_unreachable(secured: tuple[Mode, ConfServer]) -> None:
    mode, server = secured
    with pytest.raises((ConfigurationError, NatsUnavailableError)) as caught:
        async with ops.connection(NatsSettings(url=server.url, **mode.bad)):
            pass
    message = str(caught.value)
    for secret in mode.secrets:
        assert secret not in message
    assert mode.refusal in message
    if mode.name != "tls_first_nkey":
        assert isinstance(caught.value, ConfigurationError), message
