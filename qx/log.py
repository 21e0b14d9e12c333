"""Log records that carry the message's correlation id and tenant id.

The filter reads the task-local ``RequestContext``, so every log line written while a message
is handled — by qx or by the user's handler — can be joined to its trace and its tenant
without passing ids around.
"""

from __future__ import annotations

import json
import logging
from typing import Literal

from qx.core import RequestContext
from qx.telemetry import current_trace_id
from qx.worker import WorkerSettings


class RequestContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        ctx = RequestContext.current()
        if not hasattr(record, "correlation_id"):
            record.correlation_id = ctx.correlation_id if ctx else None
        if not hasattr(record, "tenant_id"):
            record.tenant_id = ctx.tenant_id if ctx else None
        if not hasattr(record, "trace_id"):
            record.trace_id = current_trace_id() if ctx else None
        return True


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "correlation_id": getattr(record, "correlation_id", None),
            "tenant_id": getattr(record, "tenant_id", None),
            "trace_id": getattr(record, "trace_id", None),
        }
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return json.dumps(doc, ensure_ascii=False)


class _TextFormatter(logging.Formatter):
    """Shows ``-`` rather than ``None`` for lines logged outside a message."""

    def format(self, record: logging.LogRecord) -> str:
        for name in ("correlation_id", "tenant_id"):
            if getattr(record, name, None) is None:
                setattr(record, name, "-")
        return super().format(record)


_TEXT = (
    "%(asctime)s %(levelname)s %(name)s [cid=%(correlation_id)s tenant=%(tenant_id)s] %(message)s"
)


def configure_logging(level: str | None = None, fmt: Literal["text", "json"] | None = None) -> None:
    """Root logging for a worker process. Without arguments, ``QX_LOG_LEVEL`` and
    ``QX_LOG_FORMAT`` as ``WorkerSettings`` declares them (a bad value raises ``StartupError``).
    """
    chosen = fmt or WorkerSettings.setting("log_format")
    level = level or WorkerSettings.setting("log_level")
    handler = logging.StreamHandler()
    handler.setFormatter(_JsonFormatter() if chosen == "json" else _TextFormatter(_TEXT))
    handler.addFilter(RequestContextFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
