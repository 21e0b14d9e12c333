"""``configure_telemetry()`` from OTEL_* env vars. Each case runs in a fresh interpreter because
OpenTelemetry's global providers can be set only once per process."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap


def run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "QX_PROBES"))}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_instruments_created_before_the_provider_still_report() -> None:
    # qx.worker creates its instruments at import, through the API's proxy meter.
    proc = run(
        """
        from qx.worker import WorkerRuntime
        from qx.telemetry import _metrics
        from qx.ops import configure_telemetry
        from prometheus_client import REGISTRY, generate_latest

        t = configure_telemetry()
        assert t.metrics == ["prometheus"], t
        assert configure_telemetry() is t  # once per process
        _metrics.processed.add(3, {"messaging.destination.name": "x.y"})
        print(generate_latest(REGISTRY).decode())
        """,
        QX_PROBES_PORT="8080",
    )
    assert proc.returncode == 0, proc.stderr
    assert 'qx_messages_processed_total{messaging_destination_name="x.y"' in proc.stdout


def test_console_traces_export_spans() -> None:
    proc = run(
        """
        from qx.ops import configure_telemetry
        from qx.telemetry import producer_span

        t = configure_telemetry()
        assert t.tracing == ["console"] and t.metrics == [], t
        with producer_span("orders.placed", event_id="e1", event_type="t", correlation_id="c"):
            pass
        t.shutdown()
        """,
        OTEL_TRACES_EXPORTER="console",
        OTEL_SERVICE_NAME="svc-under-test",
    )
    assert proc.returncode == 0, proc.stderr
    assert '"name": "send orders.placed"' in proc.stdout
    assert "svc-under-test" in proc.stdout


def test_nothing_is_installed_without_settings() -> None:
    proc = run(
        """
        from opentelemetry import metrics, trace
        from qx.ops import configure_telemetry

        t = configure_telemetry()
        assert (t.tracing, t.metrics) == ([], []), t
        assert type(trace.get_tracer_provider()).__name__ == "ProxyTracerProvider"
        assert type(metrics.get_meter_provider()).__name__ == "_ProxyMeterProvider"
        """,
    )
    assert proc.returncode == 0, proc.stderr


def test_unsupported_exporter_is_a_clear_error() -> None:
    proc = run(
        "from qx.ops import configure_telemetry; configure_telemetry()",
        OTEL_TRACES_EXPORTER="zipkin",
    )
    assert proc.returncode != 0
    assert "OTEL_TRACES_EXPORTER='zipkin': qx cannot set up zipkin; use console, none, otlp" in (
        proc.stderr
    )


def test_otlp_without_the_exporter_package_names_the_install() -> None:
    # The dev extra installs the exporter (make demo-trace uses it): hide it from this process.
    proc = run(
        "import sys; sys.modules['opentelemetry.exporter.otlp.proto.http.trace_exporter'] = None\n"
        "from qx.ops import configure_telemetry; configure_telemetry()",
        OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:4318",
    )
    assert proc.returncode != 0
    assert (
        "MissingDependencyError: OTLP TRACES export needs opentelemetry-exporter-otlp-proto-http"
        in (proc.stderr)
    )
