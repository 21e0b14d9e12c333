"""Worker tuning, from code or from ``QX_*`` environment variables."""

from __future__ import annotations

from pydantic import BaseModel, Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_HANDLER_TIMEOUT = 300.0


class RetryPolicy(BaseModel):
    """Exponential nak delays: ``min(max_delay, base * factor ** (delivery - 1))`` seconds.

    Delay is computed from the server's delivery count, so it survives worker restarts. How
    many deliveries are allowed is the consumer's ``max_deliver``, enforced by the server.
    """

    model_config = {"frozen": True}

    base_delay: float = Field(default=1.0, ge=0)
    factor: float = Field(default=2.0, ge=1)
    max_delay: float = Field(default=300.0, ge=0)

    def delay_for(self, num_delivered: int) -> float:
        exponent = max(num_delivered, 1) - 1
        try:
            return float(min(self.max_delay, self.base_delay * self.factor**exponent))
        except OverflowError:  # factor ** exponent beyond a float: long past max_delay
            return float(self.max_delay)


class WorkerSettings(BaseSettings):
    """Every knob of a generated worker. Env: ``QX_CONCURRENCY=16``, ``QX_MAX_DELIVER=8``, ..."""

    model_config = SettingsConfigDict(env_prefix="QX_", extra="ignore")

    stream: str | None = None
    durable: str | None = None
    concurrency: int = Field(default=8, ge=1)
    batch: int = Field(default=64, ge=1)
    fetch_timeout: float = Field(default=1.0, gt=0)
    # The continuous pull: how long one pull request lives, the server's idle heartbeat
    # (0 = a sixth of pull_expires, at most 5 s; two missed ones re-send the requests) and an
    # optional byte cap per request (0 = none).
    pull_expires: float = Field(default=30.0, gt=0)
    idle_heartbeat: float = Field(default=0.0, ge=0)
    max_bytes: int = Field(default=0, ge=0)
    ack_wait: float = Field(default=30.0, gt=0)
    max_deliver: int = Field(default=5, ge=1)
    backoff_base: float = Field(default=1.0, ge=0)
    backoff_factor: float = Field(default=2.0, ge=1)
    backoff_max: float = Field(default=300.0, ge=0)
    # A hung handler is cancelled and retried after this many seconds, so it cannot hold a
    # slot (and its message, kept alive by in-progress heartbeats) forever. 0 = no limit.
    handler_timeout: float | None = Field(default=DEFAULT_HANDLER_TIMEOUT, ge=0)
    shutdown_timeout: float = Field(default=30.0, ge=0)
    provision: bool = True
    validate_payloads: bool = True
    dlq_stream: str = "QX_DLQ"

    @field_validator("idle_heartbeat")
    @classmethod
    def _heartbeat_fits(cls, value: float, info: ValidationInfo) -> float:
        expires = info.data.get("pull_expires")
        if expires is not None and value * 2 > expires:
            raise ValueError(
                f"must be at most half of pull_expires={expires} (the server refuses longer)"
            )
        return value

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            base_delay=self.backoff_base,
            factor=self.backoff_factor,
            max_delay=self.backoff_max,
        )
