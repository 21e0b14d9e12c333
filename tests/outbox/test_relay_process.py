"""The relay as users start it: ``python -m <pkg>.relay`` (generated) and ``qxgen relay``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from nats.aio.client import Client

from qx.outbox import Outbox
from qxgen.cli import cli
from tests.outbox.conftest import Stream
from tests.outbox.events import OrderCreated
from tests.outbox.helpers import stream_messages, wait_until

ROOT = Path(__file__).resolve().parents[2]
SHOP = ROOT / "examples" / "shop_service"


@pytest.mark.nats
async def test_generated_relay_module_publishes_and_stops_on_sigterm(
    tmp_path: Path, nc: Client, nats_url: str, stream: Stream
) -> None:
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    box = Outbox.from_url(url, source="shop-service")
    await box.migrate()
    async with box.transaction() as tx:
        await tx.publish(OrderCreated(order_id="o1"), subject=stream.subject("order.created"))
    env = {
        **os.environ,
        "QX_OUTBOX_DATABASE_URL": url,
        "QX_OUTBOX_POLL_INTERVAL": "0.05",
        "NATS_URL": nats_url,
        "COLUMNS": "80",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "shop_service.relay"],
        cwd=SHOP,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:

        async def sent() -> bool:
            return len(await stream_messages(nc, stream.name)) == 1

        await wait_until(sent, timeout=30, what="relay published the row")
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
        await box.close()
    assert proc.returncode == 0, out.decode()
    assert b"1 published" in out


def test_relay_bad_input_is_one_line() -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["relay", "--database", "mysql://u:secret@h/db"])
    assert result.exit_code == 1
    assert "is not supported" in result.output
    assert "secret" not in result.output
    result = runner.invoke(cli, ["relay"], env={"QX_OUTBOX_DATABASE_URL": ""})
    assert result.exit_code == 1
    assert "set QX_OUTBOX_DATABASE_URL" in result.output
    result = runner.invoke(cli, ["relay"], env={"QX_OUTBOX_BATCH_SIZE": "many"})
    assert result.exit_code == 1
    assert "QX_OUTBOX_BATCH_SIZE='many'" in result.output
    assert "Traceback" not in result.output


def test_relay_prints_schema_and_migrates(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["relay", "--print-sql", "postgresql"])
    assert result.exit_code == 0
    assert "FOR EACH STATEMENT EXECUTE FUNCTION qx_outbox_notify()" in result.output
    db = f"sqlite:///{tmp_path / 'm.db'}"
    first = runner.invoke(cli, ["relay", "--database", db, "--migrate-only"])
    assert first.exit_code == 0, first.output
    assert "applied: 1" in first.output
    again = runner.invoke(cli, ["relay", "--database", db, "--migrate-only"])
    assert "none (up to date)" in again.output
