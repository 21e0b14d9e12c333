"""Connection and consumer settings. ``NatsSettings`` reads ``NATS_*`` env vars."""

from __future__ import annotations

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class NatsSettings(BaseSettings):
    """How to reach NATS. Env: NATS_URL (comma-separated for a cluster), NATS_USER, ..."""

    model_config = SettingsConfigDict(env_prefix="NATS_", extra="ignore")

    url: str = "nats://127.0.0.1:4222"
    name: str | None = None
    user: str | None = None
    password: str | None = None
    token: str | None = None
    creds_file: str | None = None
    connect_timeout: float = 5.0
    reconnect_time_wait: float = 2.0
    # -1 = forever: a worker must ride out server restarts (facts §9).
    max_reconnect_attempts: int = -1

    @property
    def servers(self) -> list[str]:
        return [s.strip() for s in self.url.split(",") if s.strip()]


class ConsumerSettings(BaseModel):
    """One durable pull consumer and the streams it needs.

    Retries are nak delays computed from the delivery count (no consumer ``backoff`` list:
    the server would add the two, facts §1), so ``ack_wait`` is purely the processing deadline.
    """

    stream: str
    durable: str
    subjects: list[str] = Field(min_length=1)
    stream_subjects: list[str] | None = None
    ack_wait: float = Field(default=30.0, gt=0)
    max_deliver: int = Field(default=5, ge=1)
    max_ack_pending: int | None = None
    stream_max_age: float = 7 * 24 * 3600.0
    provision: bool = True
    dlq_stream: str = "QX_DLQ"
    dlq_subject_prefix: str = "qx.dlq"
    advisory_stream: str = "QX_DLQ_ADVISORIES"
    dlq_max_age: float = 30 * 24 * 3600.0
    # Replicas of the DLQ stream, the advisory stream and the advisory consumer. None = the
    # source stream's replica count, so a cluster node going down cannot take the DLQ with it.
    dlq_replicas: int | None = Field(default=None, ge=1, le=5)
    # On a message's last delivery, how long the worker retries a failing DLQ write (holding
    # the message) before leaving it to the max-deliveries advisory path.
    dlq_write_patience: float = Field(default=60.0, ge=0)

    @field_validator("durable", "stream", "dlq_stream", "advisory_stream")
    @classmethod
    def _no_dots(cls, value: str) -> str:
        if not value or any(c in value for c in ". *>\t"):
            raise ValueError(f"{value!r}: stream and consumer names cannot contain . * > or spaces")
        return value

    @property
    def dlq_subject(self) -> str:
        return f"{self.dlq_subject_prefix}.{self.stream}.{self.durable}"

    @property
    def advisory_subject(self) -> str:
        return f"$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{self.stream}.{self.durable}"

    @property
    def advisory_durable(self) -> str:
        return f"{self.durable}_dlq_advisories"
