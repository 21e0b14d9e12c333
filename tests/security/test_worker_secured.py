"""A worker and ``qxgen dlq list`` against secured servers, the way an operator runs them.

The worker is a separate process configured only through ``NATS_*``, its user restricted to
exactly ``qx.ops.worker_permissions`` (with and without provisioning); the server log must
show no permission violation, every event must end handled or dead-lettered, and nothing the
worker or the CLI prints may contain a secret.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from qx import ops
from qx.cqrs import Mediator
from qx.events import (
    ConsumerSettings,
    EventRegistry,
    NatsConsumer,
    NatsPublisher,
    NatsSettings,
    create_nats_connection,
)
from qx.exceptions import NatsAuthError
from qx.testing import WorkerHarness
from qx.transport import provision
from qx.worker import WorkerRuntime
from tests.runtime.events import OrderPlaced, recording_handler
from tests.security.servers import ConfServer, make_nkey, make_operator, make_tls, running

pytestmark = [pytest.mark.nats, pytest.mark.timeout(90)]

ROOT = Path(__file__).resolve().parents[2]
QXGEN = str(Path(sys.executable).parent / "qxgen")
STREAM, DURABLE, SUBJECTS = "ORDERS", "billing", "orders.>"


def consumer_settings(provision: bool) -> ConsumerSettings:
    return ConsumerSettings(
        stream=STREAM, durable=DURABLE, subjects=[SUBJECTS], max_deliver=2, provision=provision
    )


def as_jwt_permissions(p: ops.Permissions) -> dict[str, Any]:
    return {"pub": p.publish, "sub": p.subscribe}


def clean_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NATS_", "QX_"))}
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


Secured = tuple[Any, dict[str, str], dict[str, str], list[str]]


def secured_server(kind: str, tmp: Path, provisioning: bool) -> Secured:
    """(server context, worker env, ops env, secrets) for ``kind``."""
    tls = make_tls(tmp / "tls")
    perms = ops.worker_permissions(consumer_settings(provisioning))
    if kind == "tls+nkey":
        worker, admin = make_nkey(tmp, "worker"), make_nkey(tmp, "ops")
        config = tls.server_block() + (
            "authorization { users = [\n"
            f"  {{nkey: {worker.public}, {perms.as_server_config()}}}\n"
            f"  {{nkey: {admin.public}}}\n"
            "] }\n"
        )
        common = {"NATS_TLS_CA_FILE": str(tls.ca)}
        worker_env = {**common, "NATS_NKEY_SEED_FILE": str(worker.seed_file)}
        ops_env = {**common, "NATS_NKEY_SEED_FILE": str(admin.seed_file)}
        secrets = [worker.seed, admin.seed]
    else:  # mutual TLS + operator-mode .creds
        op = make_operator(tmp / "op", permissions=as_jwt_permissions(perms))
        config = tls.server_block(verify=True) + op.config
        common = {
            "NATS_TLS_CA_FILE": str(tls.ca),
            "NATS_TLS_CERT_FILE": str(tls.client_cert),
            "NATS_TLS_KEY_FILE": str(tls.client_key),
        }
        worker_env = {**common, "NATS_CREDS_FILE": str(op.creds_file)}
        ops_env = {**common, "NATS_CREDS_FILE": str(op.ops_creds_file)}
        secrets = [op.user_seed, op.ops_seed]
    return running(tmp / "server", config, scheme="tls"), worker_env, ops_env, secrets


def ops_settings(server: ConfServer, env: dict[str, str]) -> NatsSettings:
    values = {k.removeprefix("NATS_").lower(): v for k, v in env.items()}
    return NatsSettings(url=server.url, **values)


def tail(path: Path) -> str:
    return path.read_text(errors="replace")[-4000:]


async def wait_for(check: Any, output: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            pytest.fail(f"not reached; worker output:\n{tail(output)}")
        await asyncio.sleep(0.1)


def launch_worker(
    url: str, worker_env: dict[str, str], tmp_path: Path, *flags: str
) -> tuple[subprocess.Popen[bytes], Path, Path]:
    """``tests.security.worker_prog`` on ORDERS/billing as its own process, restricted by
    ``worker_env``'s credentials: (process, its merged output file, its handled log)."""
    handled = tmp_path / "handled.log"
    argv = [sys.executable, "-m", "tests.security.worker_prog"]
    argv += ["--stream", STREAM, "--durable", DURABLE, "--subjects", SUBJECTS]
    argv += ["--log", str(handled), *flags]
    output = tmp_path / "worker.out"
    with output.open("wb") as sink:
        proc = subprocess.Popen(
            argv,
            env=clean_env({"NATS_URL": url, **worker_env}),
            cwd=ROOT,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    return proc, output, handled


@pytest.mark.parametrize("kind", ["tls+nkey", "mtls+creds"])
@pytest.mark.parametrize("provisioning", [True, False], ids=["provision", "ops-managed"])
async def test_restricted_worker_and_dlq_list_on_a_secured_server(
    kind: str, provisioning: bool, tmp_path: Path
) -> None:
    server_ctx, worker_env, ops_env, secrets = secured_server(kind, tmp_path, provisioning)
    with server_ctx as server:
        admin = ops_settings(server, ops_env)
        if not provisioning:  # ops created everything; the worker may only use it
            nc = await create_nats_connection(admin)
            await provision(nc.jetstream(), consumer_settings(True), 16)
            await nc.close()
        flags = [] if provisioning else ["--no-provision"]
        proc, output, handled = launch_worker(server.url, worker_env, tmp_path, *flags)
        try:
            nc = await create_nats_connection(admin)
            try:
                js = nc.jetstream()

                async def stream_ready() -> bool:
                    try:
                        await js.consumer_info(STREAM, DURABLE)
                        return True
                    except Exception:
                        return False

                await wait_for(stream_ready, output)
                publisher = NatsPublisher(nc, source="tests")
                for i in range(5):
                    await publisher.publish(OrderPlaced(order_id=f"ok-{i}", total=1))
                await publisher.publish(OrderPlaced(order_id="fail-1", total=1))
                await js.publish("orders.order.placed.v1", b"{not json")

                async def settled() -> bool:
                    done = handled.exists() and handled.read_text().count("handled") == 5
                    try:
                        records = await ops.list_records(nc, "QX_DLQ")
                    except Exception:
                        return False
                    return done and len(records) == 2

                await wait_for(settled, output)
            finally:
                await nc.close()
            cli = subprocess.run(
                [QXGEN, "dlq", "list", "--url", server.url],
                env=clean_env({**ops_env, "COLUMNS": "200"}),
                capture_output=True,
                text=True,
                timeout=60,
            )
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
        worker_out = output.read_text(errors="replace")
        assert proc.returncode == 0, worker_out[-3000:]
        assert cli.returncode == 0, cli.stderr
        assert "QX_DLQ: 2 record(s)" in cli.stdout, cli.stdout
        assert "poison:invalid_json" in cli.stdout
        assert "max_deliver_exceeded:handler_failed" in cli.stdout
        assert "Violation" not in server.log, server.log[-3000:]
        assert handled.read_text().splitlines()[-1] == "exited"
        for text in (worker_out, cli.stdout, cli.stderr):
            for secret in secrets:
                assert secret not in text


async def test_a_missing_permission_stops_the_worker_naming_it(tmp_path: Path) -> None:
    """Permissions for an ops-managed setup, but the worker tries to provision."""
    perms = ops.worker_permissions(consumer_settings(False))
    config = (
        'authorization { users = [{user: worker, password: "pw-Qa1-secret", '
        f"{perms.as_server_config()}}}] }}"
    )
    with running(tmp_path / "server", config) as server:
        worker = WorkerRuntime(
            consumer=NatsConsumer(
                NatsSettings(url=server.url, user="worker", password="pw-Qa1-secret"),
                consumer_settings(True),
            ),
            registry=EventRegistry(),
            mediator=Mediator(),
        )
        with pytest.raises(NatsAuthError) as caught:
            await asyncio.wait_for(worker.run(), 30)
    message = str(caught.value)
    assert "denied user 'worker': permissions violation for publish to" in message
    assert "$js.api.stream.create.orders" in message
    assert "pw-Qa1-secret" not in message


async def test_without_the_leader_advisory_permission_a_worker_runs_and_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Permissions written before the leader-change watch (replies only): the worker is not
    refused, it consumes, and says once what it lost and which subject to grant."""
    caplog.set_level("WARNING", logger="qx.consumer")
    perms = ops.worker_permissions(consumer_settings(True))
    old = ops.Permissions(publish=perms.publish, subscribe=["_INBOX.>"])
    config = (
        'authorization { users = [{user: worker, password: "pw-Qa1-secret", '
        f"{old.as_server_config()}}}, {{user: ops, password: ops}}] }}"
    )
    handled: list[str] = []

    Record = recording_handler(handled)

    registry = EventRegistry()
    registry.register(OrderPlaced)
    with running(tmp_path / "server", config) as server:
        worker = WorkerRuntime(
            consumer=NatsConsumer(
                NatsSettings(url=server.url, user="worker", password="pw-Qa1-secret"),
                consumer_settings(True),
            ),
            registry=registry,
            mediator=Mediator([Record]),
        )
        async with WorkerHarness(worker) as h:
            nc = await create_nats_connection(
                NatsSettings(url=server.url, user="ops", password="ops"), one_shot=True
            )
            try:
                await NatsPublisher(nc, source="tests").publish(
                    OrderPlaced(order_id="still-consumed", total=1)
                )
                await h.wait_settled(1, timeout=30)
            finally:
                await nc.close()
    assert handled == ["still-consumed"]
    warnings = [
        r.getMessage()
        for r in caplog.records
        if r.levelname == "WARNING" and "leader_elected" in r.getMessage()
    ]  # one, from the consumer: the connection's generic "nats error" line is not repeated
    assert len(warnings) == 1, warnings
    assert "noticed late" in warnings[0]
    assert "pw-Qa1-secret" not in warnings[0]
