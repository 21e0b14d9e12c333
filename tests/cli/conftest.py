"""Fixtures for the CLI tests: a server of the module's own, holding the example's stream.

The example service's subjects (``orders.order.placed.v1``...) are fixed, and the session
server is shared with tests that bind ``orders.>`` to their own streams; two streams cannot
share subjects, so these tests bring their own server.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest

from qx.embedded import EmbeddedNatsServer

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "shop_service"
STREAM = "SHOP"
# Bundled schemas are named after their subjects; reading names keeps the package unimported.
SUBJECTS = sorted(
    p.stem for p in (EXAMPLE / "shop_service" / "integration" / "event_schemas").glob("*.json")
)


async def _add_stream(url: str) -> None:
    nc = await nats.connect(url)
    try:
        await nc.jetstream().add_stream(name=STREAM, subjects=SUBJECTS)
    finally:
        await nc.close()


@pytest.fixture(scope="module")
def shop_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedNatsServer]:
    """A server with the example's stream, as the worker would have provisioned it."""
    with EmbeddedNatsServer(tmp_path_factory.mktemp("shop-nats")) as server:
        asyncio.run(_add_stream(server.url))
        yield server


@pytest.fixture
def no_stream_server(tmp_path: Path) -> Iterator[EmbeddedNatsServer]:
    with EmbeddedNatsServer(tmp_path / "nats") as server:
        yield server


@pytest.fixture
def forget_example() -> Iterator[None]:
    """In-process commands import the example package from disk; forget what they imported
    (only that) so another test can import its own copy."""
    path, modules = list(sys.path), set(sys.modules)
    yield
    sys.path[:] = path
    for name in set(sys.modules) - modules:
        origin = getattr(sys.modules[name], "__file__", None) or ""
        if origin.startswith(str(EXAMPLE)) or name.split(".")[0] == "shop_service":
            del sys.modules[name]


def run_qxgen(
    *args: str, cwd: Path = REPO, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """The real entrypoint in a fresh interpreter: what a user's shell sees, tracebacks too."""
    return subprocess.run(
        [sys.executable, "-m", "qxgen", *args],
        cwd=cwd,
        env={**os.environ, "COLUMNS": "200", "PYTHONUNBUFFERED": "1"},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
