"""``qxgen dev --url`` and ``qxgen publish`` with the security flags against secured servers
(``dlq`` is in test_worker_secured and test_redaction)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from qx.events import NatsSettings, create_nats_connection
from tests.cli.conftest import EXAMPLE, STREAM, SUBJECTS
from tests.cli.test_dev import Dev
from tests.security.servers import make_tls, running

pytestmark = pytest.mark.nats

SECRET = "dev-Pw-7731-secret"
QXGEN = str(Path(sys.executable).parent / "qxgen")


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


async def test_publish_with_tls_and_token_flags(tmp_path: Path) -> None:
    tls = make_tls(tmp_path / "tls")
    config = tls.server_block() + f'authorization {{ token: "{SECRET}" }}'
    with running(tmp_path / "server", config, scheme="tls") as server:
        settings = NatsSettings(url=server.url, tls_ca_file=str(tls.ca), token=SECRET)
        nc = await create_nats_connection(settings)
        try:
            await nc.jetstream().add_stream(name=STREAM, subjects=SUBJECTS)
            flags = ["--url", server.url, "--tls-ca", str(tls.ca), "--token", SECRET]
            result = subprocess.run(
                [QXGEN, "publish", "orders.order.placed", "--example", "-C", str(EXAMPLE), *flags],
                capture_output=True,
                text=True,
                timeout=60,
                env={k: v for k, v in os.environ.items() if not k.startswith("NATS_")},
            )
            assert result.returncode == 0, result.stderr
            assert "published orders.order.placed" in result.stdout
            info = await nc.jetstream().stream_info(STREAM)
            assert info.state.messages == 1
        finally:
            await nc.close()
    assert SECRET not in result.stdout + result.stderr
