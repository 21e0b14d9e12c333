"""``qxgen dev --url`` with the security flags: the in-process worker gets the same settings."""

from __future__ import annotations

import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.conftest import EXAMPLE
from tests.cli.test_dev import Dev
from tests.security.servers import make_tls, running

pytestmark = pytest.mark.nats

SECRET = "dev-Pw-7731-secret"


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    dst = tmp_path / "shop"
    shutil.copytree(EXAMPLE, dst, ignore=shutil.ignore_patterns("__pycache__", ".qx"))
    return dst


@pytest.fixture
def started() -> Iterator[list[Dev]]:
    devs: list[Dev] = []
    yield devs
    for dev in devs:
        dev.kill()


def test_dev_url_with_tls_and_password_flags(
    shop: Path, started: list[Dev], tmp_path: Path
) -> None:
    tls = make_tls(tmp_path / "tls")
    config = tls.server_block() + (
        f'authorization {{ users = [{{user: alice, password: "{SECRET}"}}] }}'
    )
    with running(tmp_path / "server", config, scheme="tls") as server:
        args = ["--url", server.url, "--tls-ca", str(tls.ca), "--user", "alice"]
        dev = Dev(shop, *args, "--password", SECRET)
        started.append(dev)
        assert dev.expect("NATS ") == f"NATS {server.url} (external)"
        dev.expect("worker shop_service consuming")
        assert dev.stop(signal.SIGINT) == 0, dev.output
    assert SECRET not in dev.output
