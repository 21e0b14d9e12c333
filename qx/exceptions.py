"""Every exception qx raises, in one place, named after what happened.

Two families matter to the worker:

* ``PoisonMessageError`` — the message itself is unusable (bad JSON, unknown type, schema
  violation, missing envelope field). Retrying cannot help, so it goes to the DLQ at once.
* ``NonRetryableError`` — raised by a handler to say "this will never succeed"; also DLQ at once.

Anything else a handler raises is treated as transient and retried with backoff.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import NoReturn


class QxError(Exception):
    """Base class for qx errors."""


class ConfigurationError(QxError):
    """qx was set up inconsistently (a missing handler, a clashing registration, ...)."""


class NatsAuthError(ConfigurationError):
    """The NATS server refused our credentials (authentication) or an action (permission).

    Retrying cannot help until an operator fixes the credentials or the permissions, so it
    is reported as exactly that, naming who we are (never the secret) and what was refused.
    """


#: Exit codes of a worker process (sysexits.h, which systemd and supervisors know).
EXIT_CONFIG = 78  # EX_CONFIG: a QX_*/NATS_*/OTEL_* value is invalid; restarting will not help
EXIT_UNAVAILABLE = 69  # EX_UNAVAILABLE: the server cannot serve the worker (JetStream is off)


class StartupError(ConfigurationError):
    """The worker cannot start; ``message`` is the one line to print, ``code`` the exit code.

    Restarting cannot fix either cause, so a supervisor that sees one of these exit codes from a
    child stops the group instead of restarting it.
    """

    def __init__(self, message: str, code: int = EXIT_CONFIG) -> None:
        super().__init__(message)
        self.message = message
        self.code = code

    def exit(self) -> NoReturn:
        """End the process the documented way: one ``error:`` line on stderr, no traceback."""
        print(f"error: {self.message}", file=sys.stderr, flush=True)
        raise SystemExit(self.code) from None


class NonRetryableError(QxError):
    """Raise from a handler when retrying cannot succeed; the message is dead-lettered at once."""


class PoisonMessageError(QxError):
    """A message that cannot be turned into an event. ``reason`` is a stable machine code."""

    reason: str = "poison"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidJsonError(PoisonMessageError):
    reason = "invalid_json"


class MissingEnvelopeFieldError(PoisonMessageError):
    reason = "missing_envelope_field"


class InvalidPercentEncodingError(PoisonMessageError):
    """A ``ce-*`` header value has a malformed ``%`` escape or escapes that are not UTF-8.

    Guessing (U+FFFD, or keeping the text as is) would silently change an event id."""

    reason = "invalid_percent_encoding"


class UnsupportedSpecVersionError(PoisonMessageError):
    """``ce-specversion`` names a CloudEvents version qx does not read (it reads 1.x)."""

    reason = "unsupported_specversion"


class UnknownEventTypeError(PoisonMessageError):
    reason = "unknown_event_type"


class SchemaViolationError(PoisonMessageError):
    """The payload does not match the event's schema. ``errors`` lists each violation."""

    reason = "schema_invalid"

    def __init__(self, message: str, errors: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.errors = list(errors)


class PayloadTooLargeError(QxError):
    """Headers plus body exceed the server's max_payload.

    nats-py checks only the body; an oversize message would make the server close the
    connection for good, so qx refuses it before sending.
    """


class JetStreamUnavailableError(QxError):
    """The server answers but runs without JetStream: nothing qx does can work until it does."""

    def __init__(self, url: str) -> None:
        super().__init__(
            f"JetStream is not enabled on the NATS server at {url}; start nats-server with -js "
            "(or a `jetstream {}` block in its config)"
        )


class PublishError(QxError):
    """A publish was not acknowledged by JetStream after all attempts."""


# -- operations tools (DLQ commands, probes, telemetry setup) ----------------------------


class OpsError(QxError):
    """Base class for failures of the ops tools (DLQ commands, probes, telemetry setup)."""


class NatsUnavailableError(OpsError):
    """No NATS server answered at the given URL."""


class DlqStreamNotFoundError(OpsError):
    """The DLQ stream does not exist on the server."""


class DlqRecordNotFoundError(OpsError):
    """No DLQ record has the given id (unknown, or already replayed or purged)."""


class ReplayError(OpsError):
    """A record cannot be replayed (no original subject, payload gone)."""


class MissingDependencyError(OpsError):
    """An optional package needed for the requested feature is not installed."""


class TelemetryConfigError(OpsError):
    """An ``OTEL_*`` setting asks for something qx cannot set up."""
