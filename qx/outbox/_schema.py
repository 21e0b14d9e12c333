"""The outbox, inbox and lease tables as SQLAlchemy Core objects.

The DDL lives in the plain-SQL migrations beside this module (``migrations/<dialect>/``), which
users can read and run with their own tools; these definitions only describe the columns for
queries, and ``tests/outbox`` checks that both stay in step.
"""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Column, DateTime, Integer, MetaData, Table, Text

metadata = MetaData()

outbox_table = Table(
    "qx_outbox",
    metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    Column("event_id", Text, nullable=False, unique=True),
    Column("aggregate_key", Text),
    Column("subject", Text, nullable=False),
    Column("event_type", Text, nullable=False),
    Column("event_version", Integer, nullable=False),
    Column("source", Text, nullable=False),
    Column("event_time", Text, nullable=False),
    Column("correlation_id", Text, nullable=False),
    Column("causation_id", Text),
    Column("tenant_id", Text),
    Column("traceparent", Text),
    Column("tracestate", Text),
    Column("headers", JSON, nullable=False),
    Column("payload", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("sent_at", DateTime(timezone=True)),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text),
)

inbox_table = Table(
    "qx_inbox",
    metadata,
    Column("consumer", Text, primary_key=True),
    Column("event_id", Text, primary_key=True),
    Column("processed_at", DateTime(timezone=True), nullable=False),
)

lease_table = Table(
    "qx_outbox_lease",
    metadata,
    Column("name", Text, primary_key=True),
    Column("owner", Text, nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

migrations_table = Table(
    "qx_outbox_schema",
    metadata,
    Column("version", Integer, primary_key=True),
    Column("name", Text, nullable=False),
    Column("applied_at", DateTime(timezone=True), nullable=False),
)
