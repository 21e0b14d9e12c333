"""Tracing and metrics glue; the worker and publisher call these, never the OTel API directly."""

from qx.telemetry import _attributes as attributes  # semantic-convention names, shared
from qx.telemetry import _metrics as metrics  # the instruments, shared by the worker
from qx.telemetry._consume import (
    annotate_envelope,
    consumer_span,
    current_trace_id,
    mark_failed,
    trace_id_of,
)
from qx.telemetry._produce import inject_trace_headers, producer_span

__all__ = [
    "annotate_envelope",
    "attributes",
    "consumer_span",
    "current_trace_id",
    "inject_trace_headers",
    "mark_failed",
    "metrics",
    "producer_span",
    "trace_id_of",
]
