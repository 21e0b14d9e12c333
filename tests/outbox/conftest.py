"""Real databases for the outbox tests: a SQLite file (WAL) and an embedded PostgreSQL server.

``db_url`` runs a test on both. If PostgreSQL cannot start here, its variants skip with the
reason (and a warning in the summary); the SQLite variants still run.
"""

from __future__ import annotations

import uuid
import warnings
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client

from qx.outbox import Outbox
from tests.outbox.pg import (
    PostgresUnavailable,
    create_database,
    drop_database,
    embedded_postgres_server,
)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str | PostgresUnavailable]:
    try:
        with embedded_postgres_server() as url:
            yield url
    except PostgresUnavailable as exc:
        warnings.warn(f"PostgreSQL outbox tests skipped: {exc}", stacklevel=1)
        yield exc


@pytest.fixture(params=["sqlite", "postgresql"])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'service.db'}"
        return
    server = request.getfixturevalue("postgres_server")
    if isinstance(server, PostgresUnavailable):
        pytest.skip(f"PostgreSQL unavailable: {server}")
    url = await create_database(server)
    yield url
    await drop_database(server, url)


@pytest.fixture
async def outbox(db_url: str) -> AsyncIterator[Outbox]:
    box = Outbox.from_url(db_url, source="tests/outbox")
    await box.migrate()
    yield box
    await box.close()


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[Client]:
    client = await nats.connect(nats_url)
    yield client
    await client.close()


@dataclass
class Stream:
    name: str
    prefix: str

    def subject(self, event_type: str) -> str:
        return f"{self.prefix}.{event_type}.v1"


@pytest.fixture
async def stream(nc: Client) -> Stream:
    """A stream of the test's own (1 min duplicate window), on ``<prefix>.>``."""
    name = "OB" + uuid.uuid4().hex[:10].upper()
    prefix = name.lower()
    await nc.jetstream().add_stream(name=name, subjects=[f"{prefix}.>"], duplicate_window=60.0)
    return Stream(name, prefix)
