"""Worker tuning, from code or from ``QX_*`` environment variables: the one definition.

Each setting is declared here once (type, bounds, default, doc; the env name is ``QX_`` + the
upper-cased field name). A generated worker does not redeclare fields: its ``Settings`` class
only lists ``service_defaults`` (from ``[tool.qxgen]`` and ``[tool.qxgen.worker]``), which rank
below the environment, and qxgen validates those values at generate time with this same model
(``WorkerSettings.check_defaults``), so a bad default fails ``qxgen generate``, not the worker.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Annotated, Any, ClassVar, Literal, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    Field,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from qx.exceptions import EXIT_CONFIG, StartupError

DEFAULT_HANDLER_TIMEOUT = 300.0
ENV_PREFIX = "QX_"
T = TypeVar("T")


def _folded(case: Callable[[str], str]) -> BeforeValidator:
    """``QX_LOG_LEVEL=debug`` and ``QX_EVENT_LOOP=UVLOOP`` mean what they say."""
    return BeforeValidator(lambda v: case(v.strip()) if isinstance(v, str) else v)


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

    # An empty variable (``QX_PROBES_PORT=``) means "not set", as it does in a shell script.
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", env_ignore_empty=True)

    #: Defaults a generated worker sets from ``[tool.qxgen]``; ``QX_*`` variables override them.
    service_defaults: ClassVar[Mapping[str, object]] = {}
    #: Process-level settings, read before (or outside) the service's own ``Settings`` exist —
    #: by ``run_main``, logging setup, the supervisor, the probes — so they come from the
    #: environment only; ``[tool.qxgen.worker]`` refuses them rather than bake in a value
    #: nothing would read.
    ENV_ONLY: ClassVar[frozenset[str]] = frozenset(
        {
            "log_level",
            "log_format",
            "processes",
            "process_index",
            "event_loop",
            "probes_port",
            "probes_host",
            "probes_stall_after",
        }
    )

    stream: str | None = Field(default=None, description="stream the worker consumes")
    durable: str | None = Field(default=None, description="durable consumer name")
    concurrency: int = Field(default=8, ge=1, description="messages handled at once")
    batch: int = Field(
        default=64, ge=1, description="fetch batch (prefetch window = concurrency + batch)"
    )
    fetch_timeout: float = Field(
        default=1.0, gt=0, description="seconds an advisory fetch waits (bounds stop latency)"
    )
    pull_expires: float = Field(
        default=30.0, gt=0, description="seconds one pull request lives on the server"
    )
    idle_heartbeat: float = Field(
        default=0.0,
        ge=0,
        description="server heartbeat while a pull waits, seconds; 0 = pull_expires/6, at most 5",
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
    log_level: Annotated[
        Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"], _folded(str.upper)
    ] = Field(default="INFO", description="root log level")
    log_format: Annotated[Literal["text", "json"], _folded(str.lower)] = Field(
        default="text", description="text, or json for structured logs"
    )
    processes: int = Field(
        default=1, ge=1, description="worker processes on this durable, under a supervisor"
    )
    process_index: int | None = Field(
        default=None, ge=0, description="set by the supervisor in each child; not for users"
    )
    event_loop: Annotated[Literal["auto", "asyncio", "uvloop"], _folded(str.lower)] = Field(
        default="auto", description="auto = uvloop if installed (the fast extra), else asyncio"
    )
    probes_port: int | None = Field(
        default=None,
        ge=0,
        le=65535,
        description="serve /healthz, /readyz, /metrics on this port (0 = any free one)",
    )
    probes_host: str = Field(default="0.0.0.0", description="probe bind address")
    probes_stall_after: float = Field(
        default=60.0,
        gt=0,
        description="seconds without fetch/settle progress before /healthz fails",
    )

    @field_validator("idle_heartbeat")
    @classmethod
    def _heartbeat_fits(cls, value: float, info: ValidationInfo) -> float:
        expires = info.data.get("pull_expires")
        if expires is not None and value * 2 > expires:
            raise ValueError(
                f"must be at most half of pull_expires={expires} (the server refuses longer)"
            )
        return value

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
    def setting(cls, name: str, env: Mapping[str, str] | None = None) -> Any:
        """One setting, read and checked by its declaration here, without judging the others.

        For code that needs a single value outside a worker start (the event loop choice before
        the loop exists, ``qxgen dlq``'s stream, the probes of a hand-wired worker), where an
        unrelated bad variable must not be its problem. A bad value raises ``StartupError``.
        """
        field = cls.model_fields[name]
        var = cls.env_name(name)
        source = os.environ if env is None else env
        raw = next((v for k, v in source.items() if k.upper() == var), None)
        if raw is None or not raw.strip():
            if name in cls.service_defaults:
                return cls.service_defaults[name]
            return field.get_default(call_default_factory=True)
        adapter: TypeAdapter[Any] = TypeAdapter(Annotated[field.annotation, field])  # type: ignore[arg-type]
        try:
            return adapter.validate_python(raw)
        except ValidationError as exc:
            raise StartupError(f"{var}={raw!r}: {_accepted(exc.errors()[0]['msg'])}") from None

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
        problems += [
            f"{name}: read from the environment only; set {cls.env_name(name)} where the "
            "worker runs instead"
            for name in values
            if name in cls.ENV_ONLY
        ]
        for name, value in values.items():
            field = cls.model_fields.get(name)
            if field is None or name in cls.ENV_ONLY:
                continue
            try:
                adapter: TypeAdapter[Any] = TypeAdapter(Annotated[field.annotation, field])  # type: ignore[arg-type]
                adapter.validate_python(value, strict=True)
            except ValidationError as exc:
                problems.append(f"{name} = {value!r}: {exc.errors()[0]['msg']}")
        return problems

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            base_delay=self.backoff_base,
            factor=self.backoff_factor,
            max_delay=self.backoff_max,
        )


# Which environment prefix a pydantic model's fields are read from.
_PREFIX = {"NatsSettings": "NATS_", "ConsumerSettings": "QX_", "RelaySettings": "QX_OUTBOX_"}


def describe_settings_error(exc: ValidationError) -> str:
    """One line per bad value: ``QX_CONCURRENCY='abc': Input should be a valid integer``.

    A value that did not come from the environment (a default baked in from
    ``[tool.qxgen.worker]``, or passed in code) is named by its field instead of a variable
    nobody set.
    """
    prefix = _PREFIX.get(exc.title, ENV_PREFIX)
    environ = {k.upper(): v for k, v in os.environ.items()}
    parts = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"])
        var = prefix + field.upper()
        raw = environ.get(var)
        if raw is not None and raw.strip():
            parts.append(f"{var}={raw!r}: {_accepted(err['msg'])}")
        else:
            value = err.get("input")
            parts.append(f"worker setting {field}={value!r} (not from {var}): {err['msg']}")
    return "; ".join(parts)


def load_settings(factory: Callable[[], T]) -> T:
    """``factory()`` (a settings class, or a generated worker's ``build``), its bad values as
    one ``StartupError`` line (exit code 78)."""
    try:
        return factory()
    except ValidationError as exc:
        raise StartupError(describe_settings_error(exc), EXIT_CONFIG) from None


def _accepted(msg: str) -> str:
    return msg.removeprefix("Value error, ")
