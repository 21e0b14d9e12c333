"""Connection and consumer settings. ``NatsSettings`` reads ``NATS_*`` env vars."""

from __future__ import annotations

import json
import os
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from qx.exceptions import ConfigurationError
from qx.redact import redact_url
from qx.transport._legacy import legacy_nats_values

DEFAULT_NATS_URL = "nats://127.0.0.1:4222"


class NatsSettings(BaseSettings):
    """How to reach (and authenticate to) NATS; one model for the worker and every ``qxgen``
    command that connects. Env: ``NATS_URL`` (comma-separated for a cluster), ``NATS_USER``,
    ``NATS_PASSWORD``, ``NATS_TOKEN``, ``NATS_NKEY_SEED_FILE``, ``NATS_CREDS_FILE``,
    ``NATS_TLS_CA_FILE``, ``NATS_TLS_CERT_FILE``, ``NATS_TLS_KEY_FILE``,
    ``NATS_TLS_SERVER_NAME``, ``NATS_TLS_HANDSHAKE_FIRST``, ... (README "Securing the
    connection"). The nats CLI's names (``NATS_CREDS``, ``NATS_NKEY``, ``NATS_CA``,
    ``NATS_CERT``, ``NATS_KEY``) are read too.

    ``stream``, ``durable`` and ``subjects`` optionally name the consumer this service runs,
    so ``NatsConsumer(nc, settings.nats)`` has everything it needs (qx-worker 1.x style); their
    variables are ``QX_STREAM``, ``QX_DURABLE`` and ``QX_SUBJECTS`` (comma-separated).
    """

    model_config = SettingsConfigDict(
        env_prefix="NATS_",
        extra="forbid",  # a misspelt keyword is an error, not silently ignored
        populate_by_name=True,  # stream=/durable=/subjects= besides their QX_* variables
        hide_input_in_errors=True,  # validation errors must not echo a password
    )

    url: str = DEFAULT_NATS_URL
    name: str | None = None
    # authentication: at most one of user/password, token, nkey seed, creds
    user: str | None = None
    password: SecretStr | None = None
    token: SecretStr | None = None
    nkey_seed_file: str | None = None
    creds_file: str | None = None
    # TLS: a tls:// URL or any of these turns it on
    tls_ca_file: str | None = None
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    tls_server_name: str | None = None
    tls_handshake_first: bool = False
    connect_timeout: float = Field(default=5.0, gt=0)
    reconnect_time_wait: float = Field(default=2.0, ge=0)
    # -1 = forever: a worker must ride out server restarts (facts §9).
    max_reconnect_attempts: int = -1
    # the consumer this service runs (optional; see the class docstring). Read from the same
    # QX_STREAM / QX_DURABLE variables as a generated worker's WorkerSettings.
    stream: str | None = Field(default=None, validation_alias="QX_STREAM")
    durable: str | None = Field(default=None, validation_alias="QX_DURABLE")
    subjects: Annotated[list[str] | None, NoDecode] = Field(
        default=None, validation_alias="QX_SUBJECTS"
    )

    def __init__(self, **values: Any) -> None:
        # 1.x keyword and QX_NATS__* names are mapped here, each with one DeprecationWarning.
        values = legacy_nats_values(values, NATS_ENV)
        env = {k.upper(): v for k, v in os.environ.items()}
        for cli_name, field in NATS_CLI_ENV.items():
            if field not in values and NATS_ENV[field] not in env and cli_name in env:
                values[field] = env[cli_name]
        super().__init__(**values)

    @field_validator("url", mode="before")
    @classmethod
    def _join_servers(cls, value: object) -> object:
        if isinstance(value, str) and value.lstrip().startswith("["):
            try:  # a JSON list, as 1.x read QX_NATS__SERVERS
                value = json.loads(value)
            except ValueError:
                return value
        if isinstance(value, list | tuple):
            return ",".join(str(v).strip() for v in value)
        return value

    @field_validator("subjects", mode="before")
    @classmethod
    def _split_subjects(cls, value: object) -> object:
        if isinstance(value, str):
            return [s.strip() for s in value.split(",") if s.strip()]
        return value

    @model_validator(mode="after")
    def _one_auth_method(self) -> NatsSettings:
        # ConfigurationError, not ValueError: pydantic would wrap a ValueError together with
        # the input, and the input holds the secrets.
        methods = [
            name
            for name, on in (
                ("user/password", self.user is not None),
                ("token", self.token is not None),
                ("nkey seed", self.nkey_seed_file is not None),
                ("creds file", self.creds_file is not None),
            )
            if on
        ]
        if len(methods) > 1:
            raise ConfigurationError(
                f"NATS settings name {' and '.join(methods)}; choose one authentication method "
                "(unset the other NATS_* variables or options)"
            )
        if self.password is not None and self.user is None:
            raise ConfigurationError("NATS_PASSWORD is set but NATS_USER is not; set both")
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ConfigurationError(
                "mutual TLS needs both a client certificate and its key: set NATS_TLS_CERT_FILE "
                "and NATS_TLS_KEY_FILE (--tls-cert/--tls-key)"
            )
        if not self.servers:
            raise ConfigurationError("NATS_URL is empty; give at least one server URL")
        return self

    @property
    def servers(self) -> list[str]:
        return [s.strip() for s in self.url.split(",") if s.strip()]

    @property
    def display_url(self) -> str:
        """The URL(s) with any credentials masked: the only form that is ever printed."""
        return redact_url(self.url)

    @property
    def uses_tls(self) -> bool:
        return (
            any(s.startswith("tls://") for s in self.servers)
            or self.tls_ca_file is not None
            or self.tls_cert_file is not None
            or self.tls_handshake_first
        )

    @property
    def identity(self) -> str:
        """Who we authenticate as, for error messages (never the secret itself)."""
        if self.user is not None:
            return f"user {self.user!r}"
        if self.token is not None:
            return "a token"
        if self.nkey_seed_file is not None:
            return f"the nkey in {self.nkey_seed_file}"
        if self.creds_file is not None:
            return f"the credentials in {self.creds_file}"
        for server in self.servers:
            parts = urlsplit(server)
            if parts.password:
                return f"user {parts.username!r} (from the URL)"
            if parts.username:
                return "the token in the URL"
        return "no credentials"

    def secrets(self) -> list[str]:
        """Every secret value these settings hold, for scrubbing text before printing it."""
        found: list[str | None] = [
            s.get_secret_value() for s in (self.password, self.token) if s is not None
        ]
        for server in self.servers:
            parts = urlsplit(server)
            # nats://user:pass@ -> the password; nats://token@ -> the username is the secret
            found.append(parts.password if parts.password else parts.username)
        return [s for s in found if s]

    def to_env(self) -> dict[str, str]:
        """These settings as ``NATS_*`` variables (for a worker started in-process by
        ``qxgen dev``); only fields that differ from the defaults."""
        env: dict[str, str] = {}
        for field, value in self.model_dump(exclude_defaults=True).items():
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            if isinstance(value, list):
                value = ",".join(value)
            text = str(value).lower() if isinstance(value, bool) else str(value)
            env[NATS_ENV[field]] = text
        return env

    def __repr_args__(self) -> Any:
        for key, value in super().__repr_args__():
            yield key, (redact_url(value) if key == "url" and isinstance(value, str) else value)


# The nats CLI's variable names, read when ours are not set.
NATS_CLI_ENV = {
    "NATS_CREDS": "creds_file",
    "NATS_NKEY": "nkey_seed_file",
    "NATS_CA": "tls_ca_file",
    "NATS_CERT": "tls_cert_file",
    "NATS_KEY": "tls_key_file",
}

# field -> its environment variable
NATS_ENV = {
    name: info.validation_alias
    if isinstance(info.validation_alias, str)
    else f"NATS_{name.upper()}"
    for name, info in NatsSettings.model_fields.items()
}


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
