"""Writing to the outbox: atomic with the service's own changes, every attribute kept."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import inspect, select, text

from qx.core import RequestContext, use_context
from qx.outbox import Outbox, migrations, schema_sql
from qx.outbox._migrate import split_statements
from qx.outbox._schema import inbox_table, lease_table, outbox_table
from tests.outbox.events import OrderCreated


async def _rows(outbox: Outbox) -> list[dict[str, object]]:
    async with outbox.engine.connect() as conn:
        result = await conn.execute(select(outbox_table).order_by(outbox_table.c.id))
        return [dict(r._mapping) for r in result]


async def _make_orders_table(outbox: Outbox) -> None:
    async with outbox.engine.begin() as conn:
        await conn.execute(text("CREATE TABLE orders (id TEXT PRIMARY KEY)"))


async def test_commit_keeps_event_and_change_together(outbox: Outbox) -> None:
    await _make_orders_table(outbox)
    ctx = RequestContext(correlation_id="corr-1", event_id="cause-1", tenant_id="acme")
    with use_context(ctx):
        async with outbox.transaction() as tx:
            await tx.session.execute(text("INSERT INTO orders (id) VALUES ('o1')"))
            event_id = await tx.publish(OrderCreated(order_id="o1"), key="o1")
    (row,) = await _rows(outbox)
    assert row["event_id"] == event_id
    assert row["aggregate_key"] == "o1"
    assert row["subject"] == "shop.order.created.v1"
    assert row["event_type"] == "shop.order.created"
    assert row["event_version"] == 1
    assert row["source"] == "tests/outbox"
    assert row["correlation_id"] == "corr-1"
    assert row["causation_id"] == "cause-1"
    assert row["tenant_id"] == "acme"
    assert row["sent_at"] is None
    assert json.loads(str(row["payload"])) == {"order_id": "o1"}
    headers = row["headers"]
    assert isinstance(headers, dict)
    assert headers["ce-id"] == event_id
    assert headers["Nats-Msg-Id"] == event_id
    assert headers["ce-specversion"] == "1.0"
    assert str(row["event_time"]).endswith("Z")


async def test_rollback_discards_event_with_change(outbox: Outbox) -> None:
    await _make_orders_table(outbox)

    async def failing_request() -> None:
        async with outbox.transaction() as tx:
            await tx.session.execute(text("INSERT INTO orders (id) VALUES ('o1')"))
            await tx.publish(OrderCreated(order_id="o1"))
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await failing_request()
    async with outbox.transaction() as tx:
        await tx.publish(OrderCreated(order_id="o2"))
        tx.rollback()
    assert await _rows(outbox) == []
    async with outbox.engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM orders"))).scalar() == 0


async def test_add_works_on_a_plain_connection(outbox: Outbox) -> None:
    async with outbox.engine.begin() as conn:
        await outbox.add(conn, OrderCreated(order_id="o9"), event_id="fixed-id")
    (row,) = await _rows(outbox)
    assert row["event_id"] == "fixed-id"
    assert row["correlation_id"] == "fixed-id"  # a new conversation starts at the event
    assert row["causation_id"] is None


async def test_trace_context_of_the_write_is_stored(outbox: Outbox) -> None:
    from opentelemetry.sdk.trace import TracerProvider

    # A provider of the test's own: the global one is set once per process, by tests/runtime.
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("request") as span:
        async with outbox.transaction() as tx:
            await tx.publish(OrderCreated(order_id="o1"))
    (row,) = await _rows(outbox)
    trace_id = format(span.get_span_context().trace_id, "032x")
    assert str(row["traceparent"]).split("-")[1] == trace_id
    assert "traceparent" not in row["headers"]  # type: ignore[operator]


async def test_migrate_is_idempotent_and_matches_table_definitions(outbox: Outbox) -> None:
    assert await outbox.migrate() == []  # the fixture applied everything already

    def columns(sync_conn: object) -> dict[str, set[str]]:
        insp = inspect(sync_conn)
        return {
            t.name: {c["name"] for c in insp.get_columns(t.name)}
            for t in (outbox_table, inbox_table, lease_table)
        }

    async with outbox.engine.connect() as conn:
        found = await conn.run_sync(columns)
    for table in (outbox_table, inbox_table, lease_table):
        assert found[table.name] == {c.name for c in table.columns}


def test_statement_splitter_keeps_function_bodies_whole() -> None:
    for dialect in ("sqlite", "postgresql"):
        assert migrations(dialect)
        assert "CREATE TABLE IF NOT EXISTS qx_outbox" in schema_sql(dialect)
    statements = split_statements(migrations("postgresql")[0].sql)
    body = [s for s in statements if "OR REPLACE FUNCTION qx_outbox_notify" in s]
    assert len(body) == 1
    assert "pg_notify" in body[0]
    assert body[0].rstrip().endswith("$$")
    assert all(s.strip() and not s.strip().endswith(";") for s in statements)
