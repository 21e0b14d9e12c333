"""OpenTelemetry SDK setup from the standard ``OTEL_*`` environment variables.

qx itself only talks to the OpenTelemetry *API*; its instruments and tracers are created at
import time and forward to whatever providers are installed later (the API's proxies do that),
so calling ``configure_telemetry()`` before or after importing the worker makes no difference.

The SDK and exporters are optional (``pip install 'qx[otel]'``, plus
``opentelemetry-exporter-otlp`` for OTLP), so they are imported here, inside the functions that
need them, and a missing package is reported with the install command instead of an
``ImportError`` from deep inside.

Supported settings:

* ``OTEL_SDK_DISABLED=true``: install nothing.
* ``OTEL_SERVICE_NAME`` / ``OTEL_RESOURCE_ATTRIBUTES``: read by the SDK's ``Resource``.
* ``OTEL_TRACES_EXPORTER``: ``otlp``, ``console``, ``none`` (comma-separated). Unset means
  ``otlp`` if ``OTEL_EXPORTER_OTLP_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` is set,
  else no tracing, so a worker never tries to reach a collector nobody configured.
* ``OTEL_METRICS_EXPORTER``: ``prometheus``, ``otlp``, ``console``, ``none``. Prometheus is also
  switched on by ``QX_PROBES_PORT`` (it is what ``/metrics`` serves).
* ``OTEL_EXPORTER_OTLP_PROTOCOL`` (or the ``_TRACES_``/``_METRICS_`` variant): ``grpc`` or
  ``http/protobuf`` (default, as the OpenTelemetry spec recommends). Endpoint, headers and
  timeouts are read by the exporters themselves.

Global providers can be set only once per process, so the first call installs them and later
calls return the same ``Telemetry``.
"""

from __future__ import annotations

import importlib
import logging
import os
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from opentelemetry import metrics, trace

from qx.exceptions import MissingDependencyError, TelemetryConfigError
from qx.worker import WorkerSettings

log = logging.getLogger("qx.telemetry")

_TRACE_EXPORTERS = {"otlp", "console", "none"}
_METRIC_EXPORTERS = {"prometheus", "otlp", "console", "none"}
_installed: Telemetry | None = None


@dataclass
class Telemetry:
    """What ``configure_telemetry()`` installed; ``shutdown()`` flushes spans and metrics."""

    tracing: list[str] = field(default_factory=list)
    metrics: list[str] = field(default_factory=list)
    tracer_provider: Any = None
    meter_provider: Any = None

    def shutdown(self) -> None:
        """Flush and stop for good: a provider cannot be installed twice, so only the
        process's last user of it (``run_worker``, the end of ``qxgen dev``) calls this."""
        self._each("shutdown")

    def flush(self) -> None:
        """Export what is buffered and keep running (a worker restarted in-process)."""
        self._each("force_flush")

    def _each(self, method: str) -> None:
        for provider in (self.tracer_provider, self.meter_provider):
            if provider is not None:
                try:
                    getattr(provider, method)()
                except Exception as exc:  # exporting at exit must not hide the real exit status
                    log.warning("telemetry %s failed: %s: %s", method, type(exc).__name__, exc)


def _require(module: str, package: str, purpose: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDependencyError(
            f"{purpose} needs {package}, which is not installed: pip install {package}"
        ) from None


def _names(var: str, allowed: set[str], default: list[str]) -> list[str]:
    raw = os.environ.get(var, "")
    names = [n.strip().lower() for n in raw.split(",") if n.strip()] or default
    unknown = [n for n in names if n not in allowed]
    if unknown:
        raise TelemetryConfigError(
            f"{var}={raw!r}: qx cannot set up {', '.join(unknown)}; use "
            f"{', '.join(sorted(allowed))}"
        )
    return [] if "none" in names else list(dict.fromkeys(names))


def _otlp_protocol(signal: str) -> str:
    protocol = (
        os.environ.get(f"OTEL_EXPORTER_OTLP_{signal}_PROTOCOL")
        or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    ).strip()
    if protocol not in ("grpc", "http/protobuf"):
        raise TelemetryConfigError(
            f"OTLP protocol {protocol!r} is not supported; use grpc or http/protobuf"
        )
    return protocol


def _otlp_configured(signal: str) -> bool:
    return bool(
        os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or os.environ.get(f"OTEL_EXPORTER_OTLP_{signal}_ENDPOINT")
    )


def _otlp_exporter(kind: str, signal: str) -> Any:
    """``kind`` is ``trace`` or ``metric``; returns an exporter configured by its own env vars."""
    grpc = _otlp_protocol(signal) == "grpc"
    module = f"opentelemetry.exporter.otlp.proto.{'grpc' if grpc else 'http'}.{kind}_exporter"
    package = "opentelemetry-exporter-otlp-proto-" + ("grpc" if grpc else "http")
    mod = _require(module, f"{package} (or opentelemetry-exporter-otlp)", f"OTLP {signal} export")
    cls = mod.OTLPSpanExporter if kind == "trace" else mod.OTLPMetricExporter
    return cls()


def _resource(service_name: str | None) -> Any:
    resources = _require("opentelemetry.sdk.resources", "opentelemetry-sdk", "telemetry")
    attrs = {}
    if service_name and not os.environ.get("OTEL_SERVICE_NAME"):
        attrs["service.name"] = service_name
    return resources.Resource.create(attrs)


def _tracer_provider(exporters: list[str], resource: Any) -> Any:
    sdk = _require("opentelemetry.sdk.trace", "opentelemetry-sdk", "tracing")
    export = _require("opentelemetry.sdk.trace.export", "opentelemetry-sdk", "tracing")
    provider = sdk.TracerProvider(resource=resource)
    for name in exporters:
        if name == "console":
            # Simple (synchronous) so console output lines up with the log it belongs to.
            provider.add_span_processor(export.SimpleSpanProcessor(export.ConsoleSpanExporter()))
        else:
            provider.add_span_processor(
                export.BatchSpanProcessor(_otlp_exporter("trace", "TRACES"))
            )
    return provider


def _meter_provider(exporters: list[str], resource: Any) -> Any:
    sdk = _require("opentelemetry.sdk.metrics", "opentelemetry-sdk", "metrics")
    readers: list[Any] = []
    for name in exporters:
        if name == "prometheus":
            prom = _require(
                "opentelemetry.exporter.prometheus",
                "opentelemetry-exporter-prometheus",
                "/metrics",
            )
            _require("prometheus_client", "prometheus-client", "/metrics")
            readers.append(prom.PrometheusMetricReader())
        else:
            export = _require("opentelemetry.sdk.metrics.export", "opentelemetry-sdk", "metrics")
            exporter = (
                export.ConsoleMetricExporter()
                if name == "console"
                else _otlp_exporter("metric", "METRICS")
            )
            readers.append(export.PeriodicExportingMetricReader(exporter))
    return sdk.MeterProvider(resource=resource, metric_readers=readers)


def configure_telemetry(
    *, prometheus: bool | None = None, service_name: str | None = None
) -> Telemetry:
    """Install OpenTelemetry SDK providers as the ``OTEL_*`` variables ask.

    ``prometheus=None`` means "if probes are on" (``QX_PROBES_PORT`` set). Raises
    ``MissingDependencyError`` when a requested exporter is not installed and
    ``TelemetryConfigError`` for settings qx cannot honour; both name the fix.
    """
    global _installed
    if _installed is not None:
        return _installed
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        _installed = Telemetry()
        return _installed
    if prometheus is None:
        prometheus = WorkerSettings.setting("probes_port") is not None
    tracing = _names(
        "OTEL_TRACES_EXPORTER", _TRACE_EXPORTERS, ["otlp"] if _otlp_configured("TRACES") else []
    )
    metric_names = _names(
        "OTEL_METRICS_EXPORTER", _METRIC_EXPORTERS, ["otlp"] if _otlp_configured("METRICS") else []
    )
    if prometheus and "prometheus" not in metric_names:
        metric_names.append("prometheus")
    telemetry = Telemetry(tracing=tracing, metrics=metric_names)
    if tracing or metric_names:
        resource = _resource(service_name)
        if tracing:
            telemetry.tracer_provider = _install_tracer_provider(tracing, resource)
        if metric_names:
            telemetry.meter_provider = _install_meter_provider(metric_names, resource)
        # Only an install is final: a call that set nothing up (a CLI publish without OTEL_*)
        # must not keep a later caller from asking for more.
        _installed = telemetry
    log.info(
        "telemetry: traces -> %s; metrics -> %s",
        ", ".join(tracing) or "off",
        ", ".join(metric_names) or "off",
    )
    return telemetry


def shutdown_telemetry() -> None:
    """Flush and stop what ``configure_telemetry()`` installed, if anything: for a host that ran
    workers with ``serve_app(keep_telemetry=True)``."""
    if _installed is not None:
        _installed.shutdown()


def _install_tracer_provider(exporters: list[str], resource: Any) -> Any:
    sdk = _require("opentelemetry.sdk.trace", "opentelemetry-sdk", "tracing")
    if isinstance(trace.get_tracer_provider(), sdk.TracerProvider):
        log.warning("a TracerProvider is already installed; OTEL_TRACES_EXPORTER is ignored")
        return None
    provider = _tracer_provider(exporters, resource)
    trace.set_tracer_provider(provider)
    return provider


def _install_meter_provider(exporters: list[str], resource: Any) -> Any:
    sdk = _require("opentelemetry.sdk.metrics", "opentelemetry-sdk", "metrics")
    if isinstance(metrics.get_meter_provider(), sdk.MeterProvider):
        log.warning("a MeterProvider is already installed; qx metrics go to it as configured")
        return None
    provider = _meter_provider(exporters, resource)
    metrics.set_meter_provider(provider)
    return provider
