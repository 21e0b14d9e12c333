"""``qxgen publish`` against a real server: what lands on the stream, and every way to get it
wrong answered by one line and a non-zero exit."""

from __future__ import annotations

import asyncio
import importlib
import json
import re
from pathlib import Path
from typing import Any

import nats
import pytest
from click.testing import CliRunner, Result

from qx.embedded import EmbeddedNatsServer, free_port
from qxgen.cli import cli
from tests.cli.conftest import EXAMPLE, STREAM, run_qxgen

pytestmark = [pytest.mark.nats, pytest.mark.usefixtures("forget_example")]

PUBLISHED = re.compile(r"id (?P<id>[0-9a-f-]{36}), stream SHOP seq (?P<seq>\d+)")


def publish(url: str, *args: str) -> Result:
    return CliRunner().invoke(
        cli, ["publish", *args, "--url", url, "-C", str(EXAMPLE)], catch_exceptions=False
    )


def stored(url: str, *seqs: int) -> list[tuple[dict[str, str], Any]]:
    async def main() -> list[tuple[dict[str, str], Any]]:
        nc = await nats.connect(url)
        try:
            js = nc.jetstream()
            out = []
            for seq in seqs:
                msg = await js.get_msg(STREAM, seq)
                out.append((dict(msg.headers or {}), json.loads(msg.data)))
            return out
        finally:
            await nc.close()

    return asyncio.run(main())


def last_seq(url: str) -> int:
    async def main() -> int:
        nc = await nats.connect(url)
        try:
            info = await nc.jetstream().stream_info(STREAM)
            return int(info.state.last_seq)
        finally:
            await nc.close()

    return asyncio.run(main())


def example_of(name: str) -> Any:
    schema = json.loads(
        (EXAMPLE / "shop_service" / "integration" / "event_schemas" / f"{name}.json").read_text()
    )
    return schema["examples"][0]


def test_example_lands_as_a_cloudevent(shop_server: EmbeddedNatsServer) -> None:
    result = publish(
        shop_server.url,
        "orders.order.placed",
        "--example",
        "--tenant",
        "acme",
        "--correlation-id",
        "checkout-42",
    )
    assert result.exit_code == 0, result.output
    assert "published orders.order.placed v1 to orders.order.placed.v1" in result.stdout
    found = PUBLISHED.search(result.stdout)
    assert found, result.stdout
    [(headers, body)] = stored(shop_server.url, int(found["seq"]))

    assert headers["ce-specversion"] == "1.0"
    assert headers["ce-id"] == found["id"] == headers["Nats-Msg-Id"]
    assert headers["ce-type"] == "orders.order.placed"
    assert headers["ce-qxversion"] == "1"
    assert headers["ce-source"] == "qxgen-publish"
    assert headers["ce-correlationid"] == "checkout-42"
    assert headers["ce-tenantid"] == "acme"
    assert headers["content-type"] == "application/json"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT[0-9:.]+Z", headers["ce-time"])
    # What the worker will build from the body is the schema's example.
    registry = importlib.import_module("shop_service.integration.registry").build_registry()
    example = example_of("orders.order.placed.v1")
    assert registry.build("orders.order.placed", 1, body) == registry.build(
        "orders.order.placed", 1, example
    )


def test_versioned_type_from_file_count_and_inline_data(
    shop_server: EmbeddedNatsServer, tmp_path: Path
) -> None:
    payload = {**example_of("identity.user.registered.v2"), "given_name": "Grace"}
    file = tmp_path / "user.json"
    file.write_text(json.dumps(payload))
    before = last_seq(shop_server.url)

    result = publish(
        shop_server.url, "identity.user.registered.v2", "--file", str(file), "--count", "3"
    )
    assert result.exit_code == 0, result.output
    assert "published 3 x identity.user.registered v2" in result.stdout
    assert f"seq {before + 1}..{before + 3}" in result.stdout
    messages = stored(shop_server.url, before + 1, before + 2, before + 3)
    assert {h["ce-qxversion"] for h, _ in messages} == {"2"}
    assert len({h["ce-id"] for h, _ in messages}) == 3  # distinct ids: none deduplicated
    assert all(body["given_name"] == "Grace" for _, body in messages)

    data = json.dumps(example_of("payments.payment.failed.v1"))
    result = publish(shop_server.url, "payments.payment.failed", "--version", "1", "--data", data)
    assert result.exit_code == 0, result.output
    [(headers, _)] = stored(shop_server.url, before + 4)
    assert headers["ce-type"] == "payments.payment.failed"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["orders.order.placd", "--example"],
            "unknown event type 'orders.order.placd' in shop_service; did you mean "
            "orders.order.placed?",
        ),
        (["orders.order.placed", "--data", '{"order_id": '], "invalid JSON in --data: "),
        (
            ["orders.order.placed", "--data", '{"order_id": "not-a-uuid"}'],
            "payload is not a valid orders.order.placed v1: ",
        ),
        (
            ["identity.user.registered", "--example"],
            "identity.user.registered has versions 1, 2; pass --version N",
        ),
        (["orders.order.placed.v2", "--example"], "orders.order.placed has no version 2"),
        (["orders.order.placed"], "give the payload with exactly one of --data JSON"),
    ],
    ids=["unknown-type", "invalid-json", "schema-violation", "ambiguous", "no-version", "no-data"],
)
def test_bad_input_is_one_line_and_sends_nothing(
    shop_server: EmbeddedNatsServer, args: list[str], message: str
) -> None:
    before = last_seq(shop_server.url)
    result = publish(shop_server.url, *args)
    assert result.exit_code != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert message in errors[0]
    assert "Traceback" not in result.output
    assert last_seq(shop_server.url) == before


def test_schema_violation_names_each_problem(shop_server: EmbeddedNatsServer) -> None:
    bad = {**example_of("orders.order.placed.v1"), "lines": []}
    result = publish(shop_server.url, "orders.order.placed", "--data", json.dumps(bad))
    assert result.exit_code == 1
    assert "/lines" in result.stderr
    assert "nothing was sent" in result.stderr


def test_no_stream_says_how_to_get_one(no_stream_server: EmbeddedNatsServer) -> None:
    result = publish(no_stream_server.url, "orders.order.placed", "--example")
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"error: no stream on {no_stream_server.url} stores orders.order.placed.v1; start the "
        "worker once (it creates the stream) or run `qxgen dev`"
    )


def test_server_down_from_the_real_entrypoint() -> None:
    url = f"nats://127.0.0.1:{free_port()}"  # nothing listens there
    done = run_qxgen(
        "publish", "orders.order.placed", "--example", "--url", url, "-C", str(EXAMPLE)
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith(f"error: cannot reach NATS at {url} (")
    assert line.endswith("start the server or pass --url / set NATS_URL")
