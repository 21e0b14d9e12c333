"""A short-lived NATS connection for one-shot ops commands.

Workers reconnect forever (``qx.events.create_nats_connection``); an operator's command must
instead fail within seconds with a message that names the (redacted) URL, and tell a refused
login or a denied permission apart from a server that is down. The connection settings are
the worker's (``NatsSettings``: ``NATS_*`` variables, or the ``qxgen`` flags).

``NatsTarget`` exists for the CLI: commands receive the server as a ``str`` they print in
messages; making that string the *redacted* URL, with the full settings attached, means a
command cannot print a secret even by accident.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import nats.errors
from nats.aio.client import Client

from qx.exceptions import NatsAuthError, NatsUnavailableError
from qx.redact import redact
from qx.transport import NatsSettings, create_nats_connection


class NatsTarget(str):
    """The server as shown to people (credentials masked), carrying the settings to use."""

    settings: NatsSettings

    def __new__(cls, settings: NatsSettings) -> NatsTarget:
        obj = super().__new__(cls, settings.display_url)
        obj.settings = settings
        return obj


def settings_for(target: str | NatsSettings) -> NatsSettings:
    if isinstance(target, NatsSettings):
        return target
    if isinstance(target, NatsTarget):
        return target.settings
    return NatsSettings(url=target)


async def connect(
    url: str | NatsSettings,
    *,
    timeout: float = 3.0,
    on_denied: Callable[[NatsAuthError], None] | None = None,
) -> Client:
    """Connect or raise within about ``timeout`` seconds: ``NatsAuthError`` when the
    credentials are refused, ``ConfigurationError`` for TLS/key-file problems,
    ``NatsUnavailableError`` when no server answers."""
    s = settings_for(url)
    one_shot = s.model_copy(update={"connect_timeout": min(timeout, 2.0)})
    try:
        async with asyncio.timeout(timeout):
            return await create_nats_connection(one_shot, one_shot=True, on_denied=on_denied)
    except (TimeoutError, OSError, nats.errors.Error) as exc:
        reason = redact(str(exc) or type(exc).__name__, *s.secrets())
        hint = (
            "; if the server wants the TLS handshake first, set NATS_TLS_HANDSHAKE_FIRST=true "
            "(--tls-first)"
            if s.uses_tls and not s.tls_handshake_first
            else ""
        )
        raise NatsUnavailableError(
            f"cannot reach NATS at {s.display_url} ({reason}); start the server or pass --url "
            f"/ set NATS_URL{hint}"
        ) from None


@asynccontextmanager
async def connection(url: str | NatsSettings, *, timeout: float = 3.0) -> AsyncIterator[Client]:
    """A connection for one command.

    When the server denies a permission, nats-py would only time the request out seconds
    later; instead the command is interrupted at once and ``NatsAuthError`` names the refused
    subject. A one-shot command cannot do anything useful past a denied request.
    """
    s = settings_for(url)
    denied: list[NatsAuthError] = []
    task = asyncio.current_task()
    in_body = False

    def on_denied(error: NatsAuthError) -> None:
        denied.append(error)
        if in_body and task is not None and len(denied) == 1:
            task.cancel()

    nc = await connect(s, timeout=timeout, on_denied=on_denied)
    try:
        in_body = True
        yield nc
    except asyncio.CancelledError:
        if denied and task is not None:
            task.uncancel()
            raise denied[0] from None
        raise
    except Exception as exc:
        if denied:
            raise denied[0] from exc
        raise
    finally:
        in_body = False
        if not nc.is_closed:
            try:
                await nc.close()
            except asyncio.CancelledError:  # the denial came as the body finished
                if not denied or task is None:
                    raise
                task.uncancel()
                raise denied[0] from None
