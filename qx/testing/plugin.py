"""pytest plugin (auto-loaded when qx is installed): a real nats-server for your tests.

Fixtures:
* ``nats_server`` (session): an ``EmbeddedNatsServer`` on 127.0.0.1 with a temp store.
  Streams live for the whole session: use unique stream/durable names per test
  (``unique_name``), and remember that two streams cannot share subjects.
* ``nats_url``: its URL.
* ``fresh_nats_server`` / ``fresh_nats_url`` (per test): a server of the test's own (~50 ms to
  start), for tests that reuse a service's real stream and subjects, or restart the server.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

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
def fresh_nats_server(tmp_path: Path) -> Iterator[EmbeddedNatsServer]:
    with EmbeddedNatsServer(tmp_path / "nats") as server:
        yield server


@pytest.fixture
def fresh_nats_url(fresh_nats_server: EmbeddedNatsServer) -> str:
    return fresh_nats_server.url


@pytest.fixture
def unique_name() -> str:
    """A stream/consumer-safe unique name (letters, digits, underscore)."""
    return "T" + uuid.uuid4().hex[:12].upper()
