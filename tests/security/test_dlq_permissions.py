"""Least privilege for the whole DLQ story, on real secured servers.

A worker restricted to exactly ``qx.ops.worker_permissions`` (provisioning off) whose own DLQ
write fails must still get its message into the DLQ through the max-deliveries advisory; an
operator restricted to exactly ``qx.ops.dlq_operator_permissions`` runs every ``qxgen dlq``
command the way a person does. The server log must show no permission violation, and a list
missing one subject must make the command fail with a line naming it instead of hanging.
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest
from nats.js.api import RetentionPolicy

from qx import ops
from qx.core import Result
from qx.cqrs import Mediator, integration_event_handler
from qx.events import (
    EventRegistry,
    NatsConsumer,
    NatsPublisher,
    NatsSettings,
    create_nats_connection,
)
from qx.ops import REPLAY_OF
from qx.testing import WorkerHarness
from qx.transport import get_stored, provision
from qx.worker import RetryPolicy, WorkerRuntime
from tests.runtime.events import OrderPlaced
from tests.security.servers import make_nkey, make_tls, running
from tests.security.test_worker_secured import (
    QXGEN,
    ROOT,
    STREAM,
    SUBJECTS,
    clean_env,
    consumer_settings,
    launch_worker,
    ops_settings,
    secured_server,
    wait_for,
)

pytestmark = [pytest.mark.nats, pytest.mark.timeout(120)]

DLQ = "QX_DLQ"


@pytest.mark.parametrize("kind", ["tls+nkey", "mtls+creds"])
async def test_restricted_worker_dead_letters_through_the_advisory_path(
    kind: str, tmp_path: Path
) -> None:
    """The worker's DLQ write fails on the last delivery, so it naks; the server's advisory is
    captured, the worker's advisory consumer fails to record it too while the DLQ refuses
    writes, and once ops restore the DLQ the record is rebuilt from the advisory and the
    exhausted original deleted from the work-queue source, all under the worker's list."""
    server_ctx, worker_env, ops_env, secrets = secured_server(kind, tmp_path, False)
    s = consumer_settings(True)
    with server_ctx as server:
        admin = ops_settings(server, ops_env)
        nc = await create_nats_connection(admin)
        try:
            js = nc.jetstream()
            # A work-queue source keeps an exhausted message forever: the advisory path must
            # delete it once recorded (STREAM.INFO, then STREAM.MSG.DELETE).
            await js.add_stream(
                name=STREAM, subjects=[SUBJECTS], retention=RetentionPolicy.WORK_QUEUE
            )
            await provision(js, s, 16)
            # Ops take the DLQ subject away: every record write now finds no stream.
            dlq_config = (await js.stream_info(s.dlq_stream)).config
            dlq_subjects = list(dlq_config.subjects or [])
            dlq_config.subjects = ["qx.dlq-paused.>"]
            await js.update_stream(dlq_config)

            flags = ["--no-provision", "--dlq-write-patience", "0"]
            proc, output, handled = launch_worker(server.url, worker_env, tmp_path, *flags)
            try:
                publisher = NatsPublisher(nc, source="tests")
                await publisher.publish(OrderPlaced(order_id="ok-1", total=1))
                await publisher.publish(OrderPlaced(order_id="fail-adv", total=1))

                async def advisory_failed_once() -> bool:
                    info = await js.consumer_info(s.advisory_stream, s.advisory_durable)
                    return info.delivered.consumer_seq >= 2  # delivered, nak'd, delivered again

                await wait_for(advisory_failed_once, output)
                assert (await js.stream_info(s.dlq_stream)).state.messages == 0
                dlq_config.subjects = dlq_subjects
                await js.update_stream(dlq_config)

                async def recorded() -> bool:
                    records = await ops.list_records(nc, DLQ)
                    source = await js.stream_info(STREAM)
                    return len(records) == 1 and source.state.messages == 0

                await wait_for(recorded, output)
                (record,) = await ops.list_records(nc, DLQ)
            finally:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=30)
        finally:
            await nc.close()
        worker_out = output.read_text(errors="replace")
        assert proc.returncode == 0, worker_out[-3000:]
        assert record.origin == "advisory"
        assert record.reason == "max_deliver_exceeded:unsettled"
        assert record.stream == STREAM
        assert ops.event_id_of(record) is not None
        assert b'"fail-adv"' in record.body
        assert "could not write DLQ record from advisory" in worker_out
        assert "from a max-deliveries advisory" in worker_out
        assert handled.read_text().splitlines() == ["handled ok-1", "exited"]
        assert "Violation" not in server.log, server.log[-3000:]
        for secret in secrets:
            assert secret not in worker_out


@integration_event_handler(OrderPlaced)
class Refuse:
    async def handle(self, event: OrderPlaced) -> Result[None]:
        return Result.failure(f"refusing {event.order_id}")


def qxgen(url: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    started = time.monotonic()
    done = subprocess.run(
        [QXGEN, "dlq", *args, "--url", url],
        env=clean_env({**env, "COLUMNS": "80"}),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert time.monotonic() - started < 30, "the command hung"
    return done


async def test_restricted_operator_runs_every_dlq_command(tmp_path: Path) -> None:
    tls = make_tls(tmp_path / "tls")
    admin_key, op_key, short_key = (make_nkey(tmp_path, n) for n in ("ops", "operator", "short"))
    perms = ops.dlq_operator_permissions(DLQ, source_streams=[STREAM], replay_subjects=[SUBJECTS])
    denied = f"$JS.API.STREAM.MSG.DELETE.{DLQ}"
    short = ops.Permissions([p for p in perms.publish if p != denied], perms.subscribe)
    config = tls.server_block() + (
        "authorization { users = [\n"
        f"  {{nkey: {admin_key.public}}}\n"
        f"  {{nkey: {op_key.public}, {perms.as_server_config()}}}\n"
        f"  {{nkey: {short_key.public}, {short.as_server_config()}}}\n"
        "] }\n"
    )
    common = {"NATS_TLS_CA_FILE": str(tls.ca)}
    op_env = {**common, "NATS_NKEY_SEED_FILE": str(op_key.seed_file)}
    short_env = {**common, "NATS_NKEY_SEED_FILE": str(short_key.seed_file)}
    secrets = [admin_key.seed, op_key.seed, short_key.seed]
    with running(tmp_path / "server", config, scheme="tls") as server:
        admin = NatsSettings(
            url=server.url, tls_ca_file=str(tls.ca), nkey_seed_file=str(admin_key.seed_file)
        )
        nc = await create_nats_connection(admin)
        try:
            js = nc.jetstream()
            registry = EventRegistry()
            registry.register(OrderPlaced)
            worker = WorkerRuntime(
                consumer=NatsConsumer(admin, consumer_settings(True)),
                registry=registry,
                mediator=Mediator([Refuse]),
                fetch_timeout=0.3,
                retry=RetryPolicy(base_delay=0.05, max_delay=0.1),
            )
            async with WorkerHarness(worker):
                publisher = NatsPublisher(nc, source="tests")
                await publisher.publish(OrderPlaced(order_id="fail-0", total=1))
                # Too large to copy into the DLQ: show and replay read it from the source.
                big = "fail-big-" + "x" * (nc.max_payload - 600)
                await publisher.publish(OrderPlaced(order_id=big, total=1))
                await publisher.publish(OrderPlaced(order_id="fail-2", total=1))

                async def three() -> bool:
                    return len(await ops.list_records(nc, DLQ)) == 3

                await wait_for(three, tmp_path / "none", timeout=30)
            records = await ops.list_records(nc, DLQ)
            first, second, third = sorted(records, key=lambda r: r.stream_seq)
            assert second.payload_omitted
            original = await get_stored(nc, STREAM, second.stream_seq)
            outputs: list[str] = []

            listed = qxgen(server.url, op_env, "list")
            outputs += [listed.stdout, listed.stderr]
            assert listed.returncode == 0, listed.stderr
            assert f"{DLQ}: 3 record(s)" in listed.stdout

            shown = qxgen(server.url, op_env, "show", first.id)
            outputs += [shown.stdout, shown.stderr]
            assert shown.returncode == 0, shown.stderr
            assert "fail-0" in shown.stdout
            assert "handler_failed" in shown.stdout

            replayed = qxgen(server.url, op_env, "replay", second.id)
            outputs += [replayed.stdout, replayed.stderr]
            assert replayed.returncode == 0, replayed.stderr
            assert f"replayed {second.id}" in " ".join(replayed.stdout.split())
            source = await js.stream_info(STREAM)
            copy = await get_stored(nc, STREAM, source.state.last_seq)
            assert copy.header_map[REPLAY_OF] == second.id
            assert copy.data == original.data

            purged = qxgen(server.url, op_env, "purge", first.id, "--yes")
            outputs += [purged.stdout, purged.stderr]
            assert purged.returncode == 0, purged.stderr
            assert "Purged 1 record(s)" in purged.stdout
            remaining = {r.id for r in await ops.list_records(nc, DLQ)}
            assert remaining == {third.id}
            assert "Violation" not in server.log, server.log[-3000:]

            # One subject short: the command stops at once, naming it; nothing is deleted.
            refused = qxgen(server.url, short_env, "purge", third.id, "--yes")
            outputs += [refused.stdout, refused.stderr]
            assert refused.returncode != 0
            (line,) = [x for x in refused.stderr.splitlines() if x.startswith("error:")]
            assert f'publish to "{denied.lower()}"' in line, refused.stderr
            assert [r.id for r in await ops.list_records(nc, DLQ)] == [third.id]

            emptied = qxgen(server.url, op_env, "purge", "--yes")
            outputs += [emptied.stdout, emptied.stderr]
            assert emptied.returncode == 0, emptied.stderr
            assert "Purged 1 record(s)" in emptied.stdout
            assert (await js.stream_info(DLQ)).state.messages == 0
        finally:
            await nc.close()
        violations = [line for line in server.log.splitlines() if "Violation" in line]
        assert violations, "the short list was not refused by the server"
        assert all(short_key.public in line for line in violations), violations
    for text in outputs:
        for secret in secrets:
            assert secret not in text
        # asyncio's benign TLS close warning is not shown to users (qx.transport filters it)
        assert "eof_received" not in text


def test_operator_permissions_follow_the_commands_allowed() -> None:
    inspect = ops.dlq_operator_permissions("DLQ", replay=False, purge=False)
    assert inspect.publish == ["$JS.API.STREAM.INFO.DLQ", "$JS.API.STREAM.MSG.GET.DLQ"]
    assert inspect.subscribe == ["_INBOX.>"]
    purge_only = ops.dlq_operator_permissions("DLQ", source_streams=["A"], replay=False)
    assert purge_only.publish[2:] == [
        "$JS.API.STREAM.MSG.GET.A",
        "$JS.API.STREAM.MSG.DELETE.DLQ",
        "$JS.API.STREAM.PURGE.DLQ",
    ]
    with pytest.raises(ValueError, match="replay_subjects"):
        ops.dlq_operator_permissions("DLQ", source_streams=["A"])


def test_readme_operator_table_lists_every_subject() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("**An operator running `qxgen dlq`**", 1)[1].split("\n## ", 1)[0]
    perms = ops.dlq_operator_permissions(
        "QX_DLQ", source_streams=["S"], replay_subjects=["orders.>"]
    )
    for subject in perms.publish + perms.subscribe:
        assert f"`{subject}`" in section, subject
