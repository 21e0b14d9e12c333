"""Errors the ops tools raise, named after what went wrong; each message says what to do next.

They subclass ``qx.exceptions.QxError`` so a caller can catch every qx failure at once. The CLI
prints ``str(error)`` as its one-line message.
"""

from __future__ import annotations

from qx.exceptions import QxError


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
