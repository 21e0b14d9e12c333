"""The relay as users start it: ``python -m <pkg>.relay`` (generated) and ``qxgen relay``."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import nats
import pytest
from click.testing import CliRunner
from nats.aio.client import Client

from qx.embedded import free_port
from qx.outbox import Outbox
from qx.service import EXIT_CONFIG, EXIT_UNAVAILABLE
from qxgen.cli import cli
from tests.outbox.conftest import Stream
from tests.outbox.events import OrderCreated
from tests.outbox.helpers import stream_messages, wait_until
from tests.security.servers import ConfServer, running

ROOT = Path(__file__).resolve().parents[2]
SHOP = ROOT / "examples" / "shop_service"
QXGEN = Path(sys.executable).parent / "qxgen"


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
    assert result.exit_code == EXIT_CONFIG
    assert "is not supported" in result.output
    assert "secret" not in result.output
    result = runner.invoke(cli, ["relay"], env={"QX_OUTBOX_DATABASE_URL": ""})
    assert result.exit_code == EXIT_CONFIG
    assert "set QX_OUTBOX_DATABASE_URL" in result.output
    result = runner.invoke(cli, ["relay"], env={"QX_OUTBOX_BATCH_SIZE": "many"})
    assert result.exit_code == EXIT_CONFIG
    assert "QX_OUTBOX_BATCH_SIZE='many'" in result.output
    assert "Traceback" not in result.output


def _relay_env(**env: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("NATS_", "QX_", "OTEL_"))}
    return {**clean, "QX_OUTBOX_POLL_INTERVAL": "0.05", "COLUMNS": "80", **env}


@pytest.mark.parametrize(
    ("variable", "shown"),
    [
        ("QX_OUTBOX_BATCH_SIZE", "QX_OUTBOX_BATCH_SIZE='many': Input should be a valid"),
        ("NATS_CONNECT_TIMEOUT", "NATS_CONNECT_TIMEOUT='many': Input should be a valid"),
    ],
)
def test_generated_relay_bad_setting_is_one_line_and_exit_78(
    tmp_path: Path, variable: str, shown: str
) -> None:
    """As for a worker: one ``error:`` line naming the variable, EXIT_CONFIG, no traceback."""
    done = _run_generated_relay(
        QX_OUTBOX_DATABASE_URL=f"sqlite:///{tmp_path / 'shop.db'}", **{variable: "many"}
    )
    assert done.returncode == EXIT_CONFIG, done.stderr
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"error: {shown}")


def test_relay_against_a_server_without_jetstream_exits_69(
    tmp_path: Path, no_jetstream_url: str
) -> None:
    """Not a row left pending forever with the same error: one line saying what to fix, and
    EX_UNAVAILABLE, as for a worker. Credentials in the URL are never printed."""
    hostport = no_jetstream_url.removeprefix("nats://")
    done = _run_generated_relay(
        QX_OUTBOX_DATABASE_URL=f"sqlite:///{tmp_path / 'shop.db'}",
        NATS_URL=f"nats://relay:s3cr3t-pw@{hostport}",
    )
    assert done.returncode == EXIT_UNAVAILABLE, done.stderr
    assert "Traceback" not in done.stderr
    assert "s3cr3t-pw" not in done.stderr + done.stdout
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert errors == [
        "error: relay failed: JetStream is not enabled on the NATS server at "
        f"nats://relay:***@{hostport}; start nats-server with -js (or a `jetstream {{}}` "
        "block in its config)"
    ], done.stderr


def _run_generated_relay(**env: str) -> subprocess.CompletedProcess[str]:
    """``python -m shop_service.relay`` to its end, with ``env`` on top of the defaults."""
    return subprocess.run(
        [sys.executable, "-m", "shop_service.relay"],
        cwd=SHOP,
        env=_relay_env(**env),
        capture_output=True,
        text=True,
        timeout=60,
    )


class Output:
    """A process's merged output, read as it comes so a test can wait for a line."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc, self.lines = proc, list[str]()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            self.lines.append(raw.decode(errors="replace"))

    @property
    def text(self) -> str:
        return "".join(self.lines)

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._thread.join(10)
        return self.text


def _start(args: list[str], env: dict[str, str]) -> Output:
    proc = subprocess.Popen(
        args, cwd=SHOP, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    return Output(proc)


async def _queue_order(url: str, subject: str, order_id: str) -> None:
    box = Outbox.from_url(url, source="shop-service")
    try:
        await box.migrate()
        async with box.transaction() as tx:
            await tx.publish(OrderCreated(order_id=order_id), subject=subject)
    finally:
        await box.close()


async def _stored(server_url: str, stream: str, count: int, **auth: str) -> None:
    nc = await nats.connect(server_url, **auth)
    try:

        async def arrived() -> bool:
            return len(await stream_messages(nc, stream)) >= count

        await wait_until(arrived, timeout=30, what=f"{count} message(s) relayed to {stream}")
        assert len(await stream_messages(nc, stream)) == count
    finally:
        await nc.close()


async def _add_stream(server_url: str, **auth: str) -> None:
    nc = await nats.connect(server_url, **auth)
    try:
        await nc.jetstream().add_stream(name="LATE", subjects=["late.>"])
    finally:
        await nc.close()


@pytest.mark.nats
async def test_relay_started_before_its_server_publishes_once_it_is_up(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'shop.db'}"
    await _queue_order(db, "late.order.created.v1", "o1")
    port = free_port()
    # Finite attempts make nats-py give up on the first connect (NoServersError); with the
    # default (forever) it keeps trying inside connect() itself.
    env = _relay_env(
        QX_OUTBOX_DATABASE_URL=db,
        NATS_URL=f"nats://127.0.0.1:{port}",
        NATS_MAX_RECONNECT_ATTEMPTS="1",
        NATS_RECONNECT_TIME_WAIT="0.1",
    )
    out = _start([sys.executable, "-m", "shop_service.relay"], env)
    try:
        deadline = time.monotonic() + 30
        # It waits instead of dying with NoServersError, as a worker does.
        while "cannot reach NATS" not in out.text:
            assert out.proc.poll() is None, out.text
            assert time.monotonic() < deadline, out.text
            await asyncio.sleep(0.05)
        server = ConfServer(tmp_path / "late", "", port=port).start()
        try:
            await _add_stream(server.url)
            await _stored(server.url, "LATE", 1)
        finally:
            log = out.stop()
            server.stop()
    finally:
        log = out.stop()
    assert out.proc.returncode == 0, log
    assert "Traceback" not in log
    assert "1 published" in log


@pytest.mark.nats
async def test_relay_waiting_for_its_server_stops_on_sigterm(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'shop.db'}"
    env = _relay_env(QX_OUTBOX_DATABASE_URL=db, NATS_URL=f"nats://127.0.0.1:{free_port()}")
    out = _start([sys.executable, "-m", "shop_service.relay"], env)
    try:
        deadline = time.monotonic() + 30
        while "Connect call failed" not in out.text:
            assert out.proc.poll() is None, out.text
            assert time.monotonic() < deadline, out.text
            await asyncio.sleep(0.05)
    finally:
        log = out.stop()
    assert out.proc.returncode == 0, log
    assert "relay stopped before NATS was reachable" in log
    assert "Traceback" not in log


SECRET = "Relay-s3cret-Pw"


@pytest.mark.nats
async def test_relay_connects_with_credentials_and_never_prints_them(tmp_path: Path) -> None:
    """``qxgen relay`` takes the shared connection flags; the generated relay reads NATS_*."""
    config = f'authorization {{ users = [{{user: alice, password: "{SECRET}"}}] }}'
    with running(tmp_path / "auth", config) as server:
        auth = {"user": "alice", "password": SECRET}
        await _add_stream(server.url, **auth)
        db = f"sqlite:///{tmp_path / 'shop.db'}"
        debug = {"QX_LOG_LEVEL": "DEBUG", "QX_OUTBOX_DATABASE_URL": db}

        await _queue_order(db, "late.order.created.v1", "o1")
        qxgen = [str(QXGEN), "relay", "--url", server.url, "--user", "alice"]
        cli_run = _start(qxgen, _relay_env(NATS_PASSWORD=SECRET, **debug))
        try:
            await _stored(server.url, "LATE", 1, **auth)
        finally:
            cli_out = cli_run.stop()

        await _queue_order(db, "late.order.created.v1", "o2")
        env = _relay_env(NATS_URL=server.url, NATS_USER="alice", NATS_PASSWORD=SECRET, **debug)
        module_run = _start([sys.executable, "-m", "shop_service.relay"], env)
        try:
            await _stored(server.url, "LATE", 2, **auth)
        finally:
            module_out = module_run.stop()

        env["NATS_PASSWORD"] = "nope-" + SECRET
        refused = subprocess.run(
            [sys.executable, "-m", "shop_service.relay"],
            cwd=SHOP,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    for run, log in ((cli_run, cli_out), (module_run, module_out)):
        assert run.proc.returncode == 0, log
        assert "1 published" in log
        assert SECRET not in log
        assert "Traceback" not in log
    refused_out = refused.stdout + refused.stderr
    assert refused.returncode == EXIT_CONFIG, refused_out
    assert SECRET not in refused_out
    assert "Traceback" not in refused_out
    assert refused.stderr.strip().splitlines()[-1].startswith("error: relay cannot start: NATS at")
    assert "refused the login as user 'alice'" in refused_out


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
