"""``qxgen dlq ...`` through click's runner against a real server with worker-written records."""

from __future__ import annotations

import asyncio

import click
import nats
import pytest
from click.testing import CliRunner, Result

from qx import ops
from qx.dlq import DlqRecord
from qx.embedded import free_port
from qxgen.ops_commands import register
from tests.ops.helpers import dead_letter
from tests.runtime.conftest import Names, WorkerFactory

pytestmark = pytest.mark.nats


@click.group()
def cli() -> None:
    """Stands in for the qxgen group."""


register(cli)


@pytest.fixture
def env(nats_url: str, names: Names, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NATS_URL", nats_url)
    monkeypatch.setenv("QX_DLQ_STREAM", names.dlq_stream)
    monkeypatch.setenv("COLUMNS", "200")  # a wide terminal, so table cells are not folded


def invoke(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, ["dlq", *args], input=input, catch_exceptions=False)


def records(nats_url: str, names: Names) -> list[DlqRecord]:
    async def main() -> list[DlqRecord]:
        async with ops.connection(nats_url) as nc:
            return await ops.list_records(nc, names.dlq_stream)

    return asyncio.run(main())


def produce(
    nats_url: str, names: Names, make_worker: WorkerFactory, orders: int, users: int
) -> None:
    async def main() -> None:
        nc = await nats.connect(nats_url)
        try:
            await dead_letter(make_worker, nc, names, orders=orders, users=users)
        finally:
            await nc.close()

    asyncio.run(main())


@pytest.mark.usefixtures("env")
def test_list_show_replay_purge(nats_url: str, names: Names, make_worker: WorkerFactory) -> None:
    produce(nats_url, names, make_worker, orders=2, users=1)
    first, second, user = records(nats_url, names)

    listed = invoke("list")
    assert listed.exit_code == 0, listed.output
    assert f"{names.dlq_stream}: 3 record(s)" in listed.output
    for r in (first, second, user):
        assert r.id in listed.output
    assert "non_retryable:non_retryable" in listed.output
    only_users = invoke("list", "--type", "identity.user.registered")
    assert "1 record(s)" in only_users.output
    assert invoke("list", "--consumer", "nobody").output.strip() == (
        f"No records in {names.dlq_stream} match."
    )

    shown = invoke("show", first.id)
    assert shown.exit_code == 0, shown.output
    assert '"order_id": "o0"' in shown.output
    assert "non_retryable:non_retryable" in shown.output
    assert "NonRetryableError: refusing OrderPlaced" in shown.output
    assert "ce-correlationid" in shown.output
    trace_id = ops.trace_id_of(first)
    assert trace_id
    assert trace_id in shown.output
    assert invoke("show", str(first.dlq_seq)).output == shown.output

    # One id: no question asked.
    replayed = invoke("replay", first.id)
    assert replayed.exit_code == 0, replayed.output
    assert f"replayed {first.id} -> {first.subject} as replay:{first.id}" in replayed.output

    # Bulk: asks first, and "no" changes nothing.
    declined = invoke("replay", "--all", input="n\n")
    assert declined.exit_code == 1
    assert "Replay 2 records" in declined.output
    assert len(records(nats_url, names)) == 2
    by_type = invoke("replay", "--all", "--type", "identity.user.registered")
    assert by_type.exit_code == 0, by_type.output  # a single record: no question
    assert [r.id for r in records(nats_url, names)] == [second.id]

    purged = invoke("purge", input="y\n")
    assert purged.exit_code == 0, purged.output
    assert "Delete all 1 record(s)" in purged.output
    assert "Purged 1 record(s)" in purged.output
    assert invoke("list").output.strip() == f"No records in {names.dlq_stream}."


@pytest.mark.usefixtures("env")
def test_bulk_replay_and_purge_with_yes(
    nats_url: str, names: Names, make_worker: WorkerFactory
) -> None:
    produce(nats_url, names, make_worker, orders=2, users=2)
    replayed = invoke("replay", "--all", "--type", "orders.order.placed", "--yes")
    assert replayed.exit_code == 0, replayed.output
    assert replayed.output.count("replayed qx-dlq:") == 2
    purged = invoke("purge", "--type", "identity.user.registered", "-y")
    assert "Purged 2 record(s)" in purged.output
    assert records(nats_url, names) == []


@pytest.mark.usefixtures("env")
def test_unknown_id_is_a_one_line_error(
    nats_url: str, names: Names, make_worker: WorkerFactory
) -> None:
    produce(nats_url, names, make_worker, orders=1, users=0)
    for args in (
        ["show", f"qx-dlq:{names.stream}:999"],
        ["replay", f"qx-dlq:{names.stream}:999"],
        ["purge", "999", "--yes"],
    ):
        result = invoke(*args)
        assert result.exit_code == 1, (args, result.output)
        lines = result.output.strip().splitlines()
        assert len(lines) == 1, result.output
        assert lines[0].startswith("error: no DLQ record ")
        assert "replayed or purged already" in lines[0]
    bad = invoke("show", "not-an-id")
    assert bad.exit_code == 1
    assert "is not a DLQ record id" in bad.output
    assert len(records(nats_url, names)) == 1  # nothing was changed


def test_server_down_is_a_one_line_error() -> None:
    url = f"nats://127.0.0.1:{free_port()}"
    for args in (["list"], ["show", "1"], ["replay", "--all", "--yes"], ["purge", "--yes"]):
        result = invoke(*args, "--url", url)
        assert result.exit_code == 1, result.output
        assert result.output.strip().splitlines() == [
            f"error: cannot reach NATS at {url} (nats: no servers available for connection); "
            "start the server or pass --url / set NATS_URL"
        ]


def test_missing_stream_is_a_one_line_error(nats_url: str) -> None:
    result = invoke("list", "--url", nats_url, "--dlq-stream", "NO_SUCH_DLQ")
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "error: DLQ stream 'NO_SUCH_DLQ' does not exist on this server; check --dlq-stream "
        "(env QX_DLQ_STREAM) or start a worker once so it provisions the stream"
    ]


def test_replay_needs_ids_or_all(nats_url: str) -> None:
    result = invoke("replay", "--url", nats_url)
    assert result.exit_code == 2
    assert "give record IDs, or --all" in result.output


@pytest.mark.usefixtures("env")
def test_show_prints_non_json_payloads(
    nats_url: str, names: Names, make_worker: WorkerFactory
) -> None:
    async def main() -> None:
        nc = await nats.connect(nats_url)
        try:
            from qx.testing import WorkerHarness
            from tests.ops.helpers import Switch

            await nc.jetstream().add_stream(name=names.stream, subjects=[f"{names.prefix}.>"])
            await nc.jetstream().publish(f"{names.prefix}.raw", b"\x00binary")
            async with WorkerHarness(make_worker(Switch().handlers())) as h:
                await h.wait_settled(1)
        finally:
            await nc.close()

    asyncio.run(main())
    (record,) = records(nats_url, names)
    shown = invoke("show", record.id)
    assert shown.exit_code == 0, shown.output
    assert "b'\\x00binary'" in shown.output
    assert "poison:invalid_json" in shown.output
