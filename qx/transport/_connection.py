"""Opening a NATS connection: one code path for the worker and every ``qxgen`` command.

Authentication (user/password, token, nkey seed, ``.creds``) and TLS (CA, client certificate,
server name, handshake first) come from ``NatsSettings``. Failures an operator must fix are
named for what they are: nats-py reports a refused login or a failed TLS handshake only as
``NoServersError`` after passing the real cause to its error callback, so the callback keeps
what it saw and the failure is explained from that. Secrets never reach a message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from nats.aio.client import Client
from nats.errors import NoServersError

from qx.exceptions import ConfigurationError, NatsAuthError
from qx.redact import redact
from qx.transport._settings import NatsSettings

log = logging.getLogger("qx.nats")

# What nats-server sends (lower-cased) when it refuses the login itself.
_AUTH_REFUSALS = ("authorization violation", "authentication", "user authentication")
_PERMISSION = "permissions violation"


class _BenignTlsEof(logging.Filter):
    """Drops asyncio's "returning true from eof_received() has no effect when using ssl".

    nats-py upgrades a plain connection to TLS after the server's INFO (``start_tls``); the
    stream protocol still believes it is plain, so when a TLS server closes the connection
    asyncio logs that warning on stderr. It is harmless (the connection is closed either way)
    and would be the first line a user sees from ``qxgen dlq`` over TLS.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("returning true from eof_received()")


logging.getLogger("asyncio").addFilter(_BenignTlsEof())

NatsTarget = str | Sequence[str] | NatsSettings | None


def as_settings(target: NatsTarget) -> NatsSettings:
    """A URL, a list of URLs or settings -> settings. Credentials and TLS options not in the
    URL come from the ``NATS_*`` environment, as for the worker."""
    if isinstance(target, NatsSettings):
        return target
    if target is None:
        return NatsSettings()
    if isinstance(target, str):
        return NatsSettings(url=target)
    return NatsSettings(url=",".join(target))


def _read(path: str, what: str, env: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise ConfigurationError(
            f"cannot read the {what} {path} ({exc.strerror or exc}); check {env}"
        ) from None


def _check_key_files(s: NatsSettings) -> None:
    """Catch a file given as the wrong kind before nats-py fails on it with a traceback.
    Only the file's shape is inspected; its content is never shown."""
    if s.creds_file is not None:
        text = _read(s.creds_file, "credentials file", "NATS_CREDS_FILE (--creds)")
        if "BEGIN NATS USER JWT" not in text:
            hint = (
                "it holds an nkey seed: pass it as NATS_NKEY_SEED_FILE (--nkey)"
                if text.strip().startswith("SU")
                else "a .creds file holds a user JWT and its nkey seed (`nsc generate creds`)"
            )
            raise ConfigurationError(f"{s.creds_file} is not a NATS .creds file; {hint}")
    if s.nkey_seed_file is not None:
        text = _read(s.nkey_seed_file, "nkey seed file", "NATS_NKEY_SEED_FILE (--nkey)")
        if "BEGIN NATS USER JWT" in text:
            raise ConfigurationError(
                f"{s.nkey_seed_file} is a .creds file, not an nkey seed; pass it as "
                "NATS_CREDS_FILE (--creds)"
            )
        if not text.strip().startswith("SU"):
            raise ConfigurationError(
                f"{s.nkey_seed_file} does not hold a user nkey seed (a line starting with 'SU', "
                "from `nk -gen user`); check NATS_NKEY_SEED_FILE (--nkey)"
            )
    for path, env in (
        (s.tls_ca_file, "NATS_TLS_CA_FILE (--tls-ca)"),
        (s.tls_cert_file, "NATS_TLS_CERT_FILE (--tls-cert)"),
        (s.tls_key_file, "NATS_TLS_KEY_FILE (--tls-key)"),
    ):
        if path is not None and not Path(path).is_file():
            raise ConfigurationError(f"TLS file {path} does not exist; check {env}")


def tls_context(s: NatsSettings) -> ssl.SSLContext | None:
    if not s.uses_tls:
        return None
    try:
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=s.tls_ca_file)
        if s.tls_cert_file is not None and s.tls_key_file is not None:
            ctx.load_cert_chain(s.tls_cert_file, s.tls_key_file)
    except (ssl.SSLError, OSError) as exc:
        raise ConfigurationError(
            f"cannot load the TLS files ({exc}); check NATS_TLS_CA_FILE, NATS_TLS_CERT_FILE "
            "and NATS_TLS_KEY_FILE"
        ) from None
    return ctx


def connect_options(s: NatsSettings) -> dict[str, Any]:
    """The nats-py ``connect()`` keywords for authentication and TLS."""
    _check_key_files(s)
    options: dict[str, Any] = {
        "user": s.user,
        "password": s.password.get_secret_value() if s.password is not None else None,
        "token": s.token.get_secret_value() if s.token is not None else None,
        "user_credentials": s.creds_file,
        "nkeys_seed": s.nkey_seed_file,
    }
    ctx = tls_context(s)
    if ctx is not None:
        options["tls"] = ctx
        options["tls_hostname"] = s.tls_server_name
        options["tls_handshake_first"] = s.tls_handshake_first
    return options


def explain_failure(s: NatsSettings, seen: Sequence[BaseException]) -> Exception | None:
    """What the error callback saw during a failed connect, as an error an operator can act
    on; None when nothing points at credentials or TLS (the server is just unreachable)."""
    for exc in reversed(seen):
        text = str(exc)
        lowered = text.lower()
        if any(r in lowered for r in _AUTH_REFUSALS):
            reason = redact(text.removeprefix("nats: ").strip("'\" "), *s.secrets())
            return NatsAuthError(
                f"NATS at {s.display_url} refused the login as {s.identity} ({reason}); check "
                "NATS_USER/NATS_PASSWORD, NATS_TOKEN, NATS_NKEY_SEED_FILE or NATS_CREDS_FILE "
                "(or --user/--password, --token, --nkey, --creds)"
            )
        if isinstance(exc, ssl.SSLError | ssl.CertificateError):
            return ConfigurationError(
                f"TLS handshake with NATS at {s.display_url} failed "
                f"({redact(text, *s.secrets())}); check NATS_TLS_CA_FILE (the CA that signed "
                "the server certificate), NATS_TLS_SERVER_NAME, and for mutual TLS "
                "NATS_TLS_CERT_FILE/NATS_TLS_KEY_FILE"
            )
    return None


def permission_error(s: NatsSettings, exc: BaseException) -> NatsAuthError | None:
    """A server ``permissions violation`` as an error naming the refused subject."""
    text = str(exc)
    if _PERMISSION not in text.lower():
        return None
    detail = text.removeprefix("nats: ")
    return NatsAuthError(
        f"NATS at {s.display_url} denied {s.identity}: {detail} (nats-py lower-cases the "
        "subject); grant that permission to the user (README: Permissions a worker needs)"
    )


async def create_nats_connection(
    target: NatsTarget = None,
    *,
    one_shot: bool = False,
    on_denied: Callable[[NatsAuthError], bool | None] | None = None,
) -> Client:
    """Connect to a URL, a list of URLs, or ``NatsSettings`` (default: from ``NATS_*``).

    A worker reconnects forever: nats-py's default gives up after 60 attempts and then the
    connection is closed for good, and a worker would stop consuming without crashing.
    ``one_shot`` (ops commands) tries each server once and logs nothing: the caller reports.
    ``on_denied`` hears of each permissions violation (nats-py only times the request out); when
    it returns True it has reported the violation itself and the generic warning is skipped.

    Raises ``NatsAuthError`` when the server refuses the credentials, ``ConfigurationError``
    for unusable key/TLS files or a failed TLS handshake, and nats-py's ``NoServersError`` /
    ``OSError`` / ``TimeoutError`` when no server answers.
    """
    s = as_settings(target)
    options = connect_options(s)
    nc = Client()
    seen: list[Exception] = []
    # nats-py keeps retrying (or, after a failed TLS handshake, hangs) when the server
    # refuses us; a refusal seen while connecting ends the attempt at once.
    refused = asyncio.Event()
    connecting = True
    level = logging.DEBUG if one_shot else logging.WARNING

    async def on_nats_error(exc: Exception) -> None:
        seen.append(exc)
        del seen[:-5]
        if connecting and explain_failure(s, [exc]) is not None:
            refused.set()
        handled = False
        if on_denied is not None and (denied := permission_error(s, exc)) is not None:
            handled = bool(on_denied(denied))
        log.log(
            logging.DEBUG if handled else level,  # the handler reported it its own way
            "nats error (%s): %s: %s",
            s.display_url,
            type(exc).__name__,
            redact(str(exc), *s.secrets()),
        )

    async def on_disconnected() -> None:
        if nc.is_closed or nc.is_draining or one_shot:
            log.debug("nats disconnected (closing)")
        else:
            log.warning("nats disconnected from %s; reconnecting", s.display_url)

    async def on_reconnected() -> None:
        log.info("nats reconnected")

    async def on_closed() -> None:
        log.log(logging.DEBUG if one_shot else logging.INFO, "nats connection closed")

    connect = asyncio.ensure_future(
        nc.connect(
            servers=s.servers,
            name=s.name,
            # nats-py annotates these as int but uses them as seconds in asyncio timeouts;
            # sub-second values are what tests and fast failover need.
            connect_timeout=s.connect_timeout,  # type: ignore[arg-type]
            reconnect_time_wait=0.1 if one_shot else s.reconnect_time_wait,  # type: ignore[arg-type]
            # nats-py: 0 = forever, so 1 is the smallest finite number of tries per server
            max_reconnect_attempts=1 if one_shot else s.max_reconnect_attempts,
            allow_reconnect=True,
            error_cb=on_nats_error,
            disconnected_cb=on_disconnected,
            reconnected_cb=on_reconnected,
            closed_cb=on_closed,
            **options,
        )
    )
    watch = asyncio.ensure_future(refused.wait())
    try:
        await asyncio.wait({connect, watch}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watch.cancel()
        connecting = False
        if not connect.done():
            connect.cancel()
            await asyncio.gather(connect, return_exceptions=True)
            with contextlib.suppress(Exception):
                await nc.close()
    failure = connect.exception() if not connect.cancelled() else None
    if refused.is_set() or failure is not None:
        explained = explain_failure(s, [*seen, *([failure] if failure else [])])
        if explained is not None:
            raise explained from None
        if failure is not None:
            raise failure
    return nc


async def connect_when_reachable(
    target: NatsTarget = None,
    *,
    on_denied: Callable[[NatsAuthError], bool | None] | None = None,
) -> Client:
    """The first connection of a long-running process (worker, outbox relay), retried until
    a server answers: one started before its server (or during an outage) waits instead of
    crashing. A refused login or unusable TLS/key files are not retried: they raise at once."""
    s = as_settings(target)
    delay = 0.5
    while True:
        try:
            return await create_nats_connection(s, on_denied=on_denied)
        except (OSError, NoServersError, TimeoutError) as exc:
            log.warning(
                "cannot reach NATS at %s (%s); retrying in %.1fs",
                s.display_url,
                type(exc).__name__,
                delay,
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)


def jetstream_advertised(nc: Client) -> bool | None:
    """Whether the server we are connected to says it runs JetStream (its INFO's
    ``"jetstream"``); None when unknown. nats-py keeps INFO only in a private attribute (no
    public accessor), read defensively here. Only the connected server speaks: in a cluster
    that mixes JetStream and non-JetStream servers, confirm a False with a JetStream request.
    """
    info = getattr(nc, "_server_info", None)
    if not isinstance(info, dict) or not info:
        return None
    return bool(info.get("jetstream", False))
