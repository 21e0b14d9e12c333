"""Every error qxgen reports, named after what went wrong, and the exit codes of every command.

Errors about a schema carry the file and the JSON pointer of the offending place, so the
message reads like ``schemas/orders/placed.json#/properties/total: ...``.

Exit codes (the same for every ``qxgen`` command; each error is one ``error: ...`` line on
stderr, never a traceback):

* 0: done.
* 1 (``EXIT_FAILED``): the command could not do its job: NATS unreachable, auth failed,
  JetStream not enabled, a payload or record rejected, generated code stale (``--check``),
  records left unreplayed, a worker that failed, a confirmation declined.
* 2 (``EXIT_USAGE``): bad usage or project input: an unknown option, ``[tool.qxgen]``, a
  schema, a template.
* 130: interrupted (Ctrl-C).
"""

from __future__ import annotations

import json
import socket
import urllib.parse

import nats.errors
import nats.js.errors

from qx.exceptions import JetStreamUnavailableError, NatsUnavailableError, QxError

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class QxgenError(Exception):
    """Base class for errors qxgen reports to the user (exit code 2 on the command line)."""


class ConfigError(QxgenError):
    """``[tool.qxgen]`` or the command-line options are inconsistent."""


class SchemaError(QxgenError):
    """A schema file is unusable. ``location`` is ``<file>#<json pointer>``."""

    def __init__(self, file: str, pointer: str, message: str) -> None:
        self.file = file
        self.pointer = pointer
        self.message = message
        super().__init__(f"{self.location}: {message}")

    @property
    def location(self) -> str:
        return f"{self.file}#{self.pointer}"


class RefError(SchemaError):
    """A ``$ref`` cannot be resolved, or points somewhere it is not allowed to (remote, outside)."""


_AUTH_MARKERS = ("authorization violation", "authentication", "user authentication expired")


def describe_nats_failure(exc: BaseException, url: str) -> str:
    """What a failure talking to NATS means for the person at the keyboard, and what to do.

    qx's own errors (``NatsUnavailableError``...) already say it, except that a refused login
    reads like an unreachable server; nats-py's errors are translated here.
    """
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, nats.errors.AuthorizationError) or is_auth_failure(detail):
        return (
            f"auth failed at {url}: the server refused the credentials ({detail}); check "
            "NATS_USER/NATS_PASSWORD, NATS_TOKEN or NATS_CREDS_FILE"
        )
    if isinstance(exc, nats.js.errors.ServiceUnavailableError | nats.errors.NoRespondersError):
        return str(JetStreamUnavailableError(url))
    if isinstance(exc, NatsUnavailableError) and _requires_auth(url):
        return (
            f"auth failed at {url}: the server requires credentials and did not accept the "
            "connection; check NATS_USER/NATS_PASSWORD, NATS_TOKEN or NATS_CREDS_FILE"
        )
    if isinstance(exc, QxError):
        return detail
    return f"NATS request failed ({detail}); check that the server at {url} is up"


def is_auth_failure(message: str) -> bool:
    return any(marker in message.lower() for marker in _AUTH_MARKERS)


def _requires_auth(url: str) -> bool:
    """Whether the first server of ``url`` asks for credentials in its INFO greeting.

    nats-py reports a refused login, after its retries, only as "no servers available"; the
    server's greeting (sent in the clear before any TLS or auth) tells the two apart.
    """
    first = url.split(",")[0].strip()
    parts = urllib.parse.urlsplit(first if "://" in first else f"nats://{first}")
    try:
        with socket.create_connection(
            (parts.hostname or "127.0.0.1", parts.port or 4222), 1.0
        ) as s:
            s.settimeout(1.0)
            greeting = s.makefile("rb").readline(64 * 1024)
        info = json.loads(greeting[5:]) if greeting.startswith(b"INFO ") else {}
    except (OSError, ValueError):
        return False
    return isinstance(info, dict) and bool(info.get("auth_required"))
