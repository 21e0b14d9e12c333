"""``qxgen dlq list`` / ``show`` with an absurd value: a 60,000-character ``ce-type`` from a
hostile producer fills a few capped lines, not hundreds; the record id stays whole."""

from __future__ import annotations

import asyncio

import nats
import pytest
from click.testing import CliRunner

from qx.testing import WorkerHarness
from qxgen.cli import cli
from tests.ops.helpers import Switch
from tests.runtime.conftest import Names, WorkerFactory

pytestmark = pytest.mark.nats

HUGE_TYPE = "orders." + "x" * 60_000


def test_an_absurd_event_type_is_capped(
    nats_url: str, names: Names, make_worker: WorkerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def poison() -> None:
        nc = await nats.connect(nats_url)
        try:
            async with WorkerHarness(make_worker(Switch().handlers())) as h:
                await nc.jetstream().publish(
                    f"{names.prefix}.orders.order.placed.v1",
                    b"{}",
                    headers={
                        "ce-specversion": "1.0",
                        "ce-id": "huge-1",
                        "ce-source": "hostile",
                        "ce-type": HUGE_TYPE,
                    },
                )
                await h.wait_settled(1)
        finally:
            await nc.close()

    asyncio.run(poison())
    monkeypatch.setenv("COLUMNS", "80")
    runner = CliRunner()
    listed = runner.invoke(
        cli, ["dlq", "list", "--url", nats_url, "--dlq-stream", names.dlq_stream]
    )
    assert listed.exit_code == 0, listed.output
    lines = listed.output.splitlines()
    record_id = next(line for line in lines if line.startswith("qx-dlq:"))
    assert len(lines) < 12, listed.output
    assert max(len(line) for line in lines) < 160
    assert "chars)" in listed.output  # says how much was cut

    shown = runner.invoke(
        cli, ["dlq", "show", record_id, "--url", nats_url, "--dlq-stream", names.dlq_stream]
    )
    assert shown.exit_code == 0, shown.output
    assert record_id in shown.output
    assert len(shown.output.splitlines()) < 60, shown.output[:3000]
