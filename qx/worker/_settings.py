"""Worker tuning, from code or from ``QX_*`` environment variables: the one definition.

Each setting is declared here once (type, bounds, default, doc; the env name is ``QX_`` + the
upper-cased field name). A generated worker does not redeclare fields: its ``Settings`` class
only lists ``service_defaults`` (from ``[tool.qxgen]`` and ``[tool.qxgen.worker]``), which rank
below the environment, and qxgen validates those values at generate time with this same model
(``WorkerSettings.check_defaults``), so a bad default fails ``qxgen generate``, not the worker.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, Field, TypeAdapter, ValidationError, ValidationInfo, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

DEFAULT_HANDLER_TIMEOUT = 300.0
ENV_PREFIX = "QX_"


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


class _ServiceDefaults(PydanticBaseSettingsSource):
    """The generated worker's ``service_defaults``: below every other source, above the
    field defaults."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        defaults = getattr(self.settings_cls, "service_defaults", {})
        return dict(defaults)


class WorkerSettings(BaseSettings):
    """Every knob of a generated worker. Env: ``QX_CONCURRENCY=16``, ``QX_MAX_DELIVER=8``, ..."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    #: Defaults a generated worker sets from ``[tool.qxgen]``; ``QX_*`` variables override them.
    service_defaults: ClassVar[Mapping[str, object]] = {}

    stream: str | None = Field(default=None, description="stream the worker consumes")
    durable: str | None = Field(default=None, description="durable consumer name")
    concurrency: int = Field(default=8, ge=1, description="messages handled at once")
    batch: int = Field(
        default=64, ge=1, description="fetch batch (prefetch window = concurrency + batch)"
    )
    fetch_timeout: float = Field(
        default=1.0, gt=0, description="seconds an advisory fetch waits (bounds stop latency)"
    )
    # The continuous pull: how long one pull request lives, the server's idle heartbeat and an
    # optional byte cap per request.
    pull_expires: float = Field(default=30.0, gt=0, description="life of one pull request, s")
    idle_heartbeat: float = Field(
        default=0.0,
        ge=0,
        description="server heartbeat, s; 0 = pull_expires/6 (at most 5 s); 2 missed re-pull",
    )
    max_bytes: int = Field(default=0, ge=0, description="byte cap per pull request; 0 = none")
    ack_wait: float = Field(
        default=30.0, gt=0, description="processing deadline per delivery, seconds"
    )
    max_deliver: int = Field(default=5, ge=1, description="deliveries before the DLQ")
    backoff_base: float = Field(default=1.0, ge=0, description="first nak delay, seconds")
    backoff_factor: float = Field(default=2.0, ge=1, description="nak delay growth per delivery")
    backoff_max: float = Field(default=300.0, ge=0, description="longest nak delay, seconds")
    # A hung handler is cancelled and retried after this many seconds, so it cannot hold a
    # slot (and its message, kept alive by in-progress heartbeats) forever.
    handler_timeout: float | None = Field(
        default=DEFAULT_HANDLER_TIMEOUT,
        ge=0,
        description="cancel and retry a handler running longer, seconds; 0 = no limit",
    )
    shutdown_timeout: float = Field(
        default=30.0, ge=0, description="seconds in-flight handlers get on stop"
    )
    provision: bool = Field(
        default=True, description="create/extend streams and consumers on start"
    )
    validate_payloads: bool = Field(
        default=True, description="JSON Schema validation of raw payloads"
    )
    dlq_stream: str = Field(default="QX_DLQ", description="the dead-letter stream")
    dlq_replicas: int | None = Field(
        default=None,
        ge=1,
        le=5,
        description="replicas of the DLQ and advisory streams; unset = the source stream's",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field(
        default="INFO", description="root log level"
    )
    log_format: Literal["text", "json"] = Field(
        default="text", description="text, or json for structured logs"
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,
            dotenv_settings,
            file_secret_settings,
            _ServiceDefaults(settings_cls),
        )

    @classmethod
    def env_name(cls, field: str) -> str:
        return ENV_PREFIX + field.upper()

    @classmethod
    def check_defaults(cls, values: Mapping[str, object]) -> list[str]:
        """Problems with ``values`` as service defaults (unknown names, wrong types, out of
        bounds), judged by the same rules as the environment; empty when all are valid.

        Strict types: a default is written in TOML, where ``1.5`` for an integer setting or
        ``"8"`` for a number is a mistake, not something to coerce.
        """
        problems = [
            f"{name}: unknown setting (known: {', '.join(cls.model_fields)})"
            for name in values
            if name not in cls.model_fields
        ]
        for name, value in values.items():
            field = cls.model_fields.get(name)
            if field is None:
                continue
            try:
                adapter: TypeAdapter[Any] = TypeAdapter(Annotated[field.annotation, field])  # type: ignore[arg-type]
                adapter.validate_python(value, strict=True)
            except ValidationError as exc:
                problems.append(f"{name} = {value!r}: {exc.errors()[0]['msg']}")
        return problems

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
