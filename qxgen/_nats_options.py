"""The connection flags shared by every ``qxgen`` command that talks to NATS.

Defined once and applied with ``@nats_options()`` in place of a ``--url`` option, so
``dev --url``, ``publish`` and ``dlq *`` accept the same flags as the worker's ``NATS_*``
variables (a flag wins over its variable). The command still receives ``url: str``: it is
a ``qx.ops.NatsTarget``, whose text is the *redacted* URL and which carries the full
settings, so messages that print it cannot leak a password or token.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any, TypeVar

import click
from pydantic import ValidationError

from qx import ops
from qx.events import NatsSettings
from qx.exceptions import QxError

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_URL = "nats://127.0.0.1:4222"

# (flag, NatsSettings field, help); value flags take a string, --tls-first is a switch.
_FLAGS: tuple[tuple[str, str, str], ...] = (
    ("--user", "user", "User name ($NATS_USER)."),
    ("--password", "password", "Password ($NATS_PASSWORD; prefer the variable: argv is visible)."),
    ("--token", "token", "Authentication token ($NATS_TOKEN)."),
    ("--nkey", "nkey_seed_file", "User nkey seed file ($NATS_NKEY_SEED_FILE)."),
    ("--creds", "creds_file", "User credentials (.creds JWT) file ($NATS_CREDS_FILE)."),
    ("--tls-ca", "tls_ca_file", "CA certificate file to verify the server ($NATS_TLS_CA_FILE)."),
    ("--tls-cert", "tls_cert_file", "Client certificate for mutual TLS ($NATS_TLS_CERT_FILE)."),
    ("--tls-key", "tls_key_file", "Client certificate key ($NATS_TLS_KEY_FILE)."),
    ("--tls-server-name", "tls_server_name", "Expected server name ($NATS_TLS_SERVER_NAME)."),
)
_PARAMS = [field for _, field, _ in _FLAGS]


def settings_from_flags(url: str | None, values: dict[str, Any]) -> NatsSettings:
    given = {k: v for k, v in values.items() if v not in (None, False)}
    if url is not None:
        given["url"] = url
    try:
        return NatsSettings(**given)
    except ValidationError as exc:  # inputs are hidden (hide_input_in_errors): no secrets
        problems = "; ".join(
            f"NATS_{'.'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in exc.errors()
        )
        raise click.UsageError(f"invalid NATS settings: {problems}") from None
    except QxError as exc:
        raise click.UsageError(str(exc)) from None


def nats_options(*, embedded_when_no_url: bool = False) -> Callable[[F], F]:
    """Add ``--url`` and the authentication/TLS flags; the command gets ``url``.

    ``embedded_when_no_url`` (``qxgen dev``): without ``--url`` the command receives None
    and starts its own server, whatever ``NATS_URL`` says.
    """

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            url: str | None = kwargs.pop("url")
            values = {field: kwargs.pop(field) for field in _PARAMS}
            values["tls_handshake_first"] = kwargs.pop("tls_handshake_first")
            if url is None and embedded_when_no_url:
                kwargs["url"] = None
            else:
                kwargs["url"] = ops.NatsTarget(settings_from_flags(url, values))
            return func(*args, **kwargs)

        command: Callable[..., Any] = wrapper
        command = click.option(
            "--tls-first",
            "tls_handshake_first",
            is_flag=True,
            default=False,
            help="TLS handshake before the NATS greeting ($NATS_TLS_HANDSHAKE_FIRST).",
        )(command)
        for flag, field, text in reversed(_FLAGS):
            metavar = "FILE" if field.endswith("_file") else "NAME" if "name" in field else "TEXT"
            command = click.option(flag, field, default=None, metavar=metavar, help=text)(command)
        if embedded_when_no_url:
            url_help = "Use the NATS server at URL instead of starting an embedded one."
            command = click.option("--url", default=None, help=url_help)(command)
        else:
            command = click.option(
                "--url",
                default=None,
                show_default=f"$NATS_URL or {DEFAULT_URL}",
                help="NATS server URL (comma-separated for a cluster).",
            )(command)
        return command  # type: ignore[return-value]

    return decorate


def export_to_worker(url: str) -> None:
    """Hand the connection to a worker started in this process (``qxgen dev``): the worker
    reads ``NATS_*``, so the settings (secrets included) go there, never to the screen."""
    if isinstance(url, ops.NatsTarget):
        os.environ.update({**url.settings.to_env(), "NATS_URL": url.settings.url})
    else:
        os.environ["NATS_URL"] = url
