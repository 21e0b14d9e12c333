"""Relay settings, each defined once; env ``QX_OUTBOX_*``."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class RelaySettings(BaseSettings):
    """How the relay reads the outbox. Env: QX_OUTBOX_DATABASE_URL, QX_OUTBOX_BATCH_SIZE, ..."""

    model_config = SettingsConfigDict(env_prefix="QX_OUTBOX_", extra="ignore")

    # The service's own database (sqlite:///path.db or postgresql://...); no default, so a
    # relay started without it fails instead of watching an empty database of its own.
    database_url: str | None = None
    # Rows claimed per round trip; PostgreSQL holds their row locks while publishing them.
    batch_size: int = Field(default=200, ge=1, le=10_000)
    # How often to look for rows when nothing woke the relay (SQLite always; PostgreSQL when
    # LISTEN/NOTIFY is off or its connection was lost).
    poll_interval: float = Field(default=0.2, gt=0)
    listen: bool = True  # PostgreSQL LISTEN qx_outbox for immediate wake-ups
    # SQLite: how long a relay's lease lasts without renewal before another relay takes over.
    lease_ttl: float = Field(default=15.0, gt=0)
    publish_timeout: float = Field(default=5.0, gt=0)  # per attempt, waiting for the PubAck
    publish_attempts: int = Field(default=3, ge=1)
    # Sent rows are kept this long (seconds) for inspection, then deleted.
    retention: float = Field(default=24 * 3600.0, ge=0)
    # Inbox rows must outlive every redelivery of their event (JetStream max_age of the stream).
    inbox_retention: float = Field(default=7 * 24 * 3600.0, ge=0)
    cleanup_interval: float = Field(default=300.0, gt=0)
    migrate: bool = True  # apply the shipped migrations at start
