"""Worker metrics through the OpenTelemetry metrics API (no-ops unless an SDK is installed)."""

from __future__ import annotations

from opentelemetry import metrics

_meter = metrics.get_meter("qx.worker")

processed = _meter.create_counter(
    "qx.messages.processed", unit="{message}", description="Messages acked after success"
)
failed = _meter.create_counter(
    "qx.messages.failed", unit="{message}", description="Deliveries nak'd for retry"
)
dead_lettered = _meter.create_counter(
    "qx.messages.dead_lettered", unit="{message}", description="Messages written to the DLQ"
)
duration = _meter.create_histogram(
    "qx.message.duration",
    unit="s",
    description="Time from start of processing to settlement",
    # Seconds, not the SDK's default buckets (0..10000, made for milliseconds).
    explicit_bucket_boundaries_advisory=[
        0.001,
        0.0025,
        0.005,
        0.01,
        0.025,
        0.05,
        0.1,
        0.25,
        0.5,
        1.0,
        2.5,
        5.0,
        10.0,
        30.0,
        60.0,
    ],
)
in_flight = _meter.create_up_down_counter(
    "qx.messages.in_flight", unit="{message}", description="Messages being processed now"
)
