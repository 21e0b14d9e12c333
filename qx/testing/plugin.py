"""pytest plugin (auto-loaded when qx is installed): a real nats-server for your tests.

Fixtures:
* ``nats_server`` (session): an ``EmbeddedNatsServer`` on 127.0.0.1 with a temp store.
* ``nats_url``: its URL. Use unique stream/durable names per test (``unique_name``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from qx.embedded import EmbeddedNatsServer


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedNatsServer]:
    server = EmbeddedNatsServer(tmp_path_factory.mktemp("nats"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def nats_url(nats_server: EmbeddedNatsServer) -> str:
    return nats_server.url


@pytest.fixture
def unique_name() -> str:
    """A stream/consumer-safe unique name (letters, digits, underscore)."""
    return "T" + uuid.uuid4().hex[:12].upper()
