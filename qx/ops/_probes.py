"""HTTP probes and metrics for a running ``WorkerRuntime``: ``/healthz``, ``/readyz``, ``/metrics``.

Served by a few lines on ``asyncio.start_server`` in the worker's own event loop rather than by
``prometheus_client.start_http_server``:

* the probes must read the worker's state, which lives in the event loop; a server thread would
  read it across threads and would keep answering "healthy" while the loop itself is wedged,
  which is exactly what a liveness probe has to catch;
* one port serves all three paths, and the probes work without the ``otel`` extra;
* kubelet and Prometheus send plain ``GET``s, so a minimal HTTP/1.1 responder (one request per
  connection, ``Connection: close``) is all that is needed, with no web framework.

``/metrics`` renders the ``prometheus_client`` default registry, which the OpenTelemetry
``PrometheusMetricReader`` (installed by ``configure_telemetry()``) feeds; rendering runs in a
thread so a slow scrape does not hold up message processing.

Liveness: the worker is alive unless it is running and neither its fetch loop nor any
settlement has made progress for ``stall_after`` seconds. The fetch loop reports progress after
every fetch, even an empty or failed one (an outage is a readiness matter, not a reason to be
restarted), and settlements count too, so slow handlers that keep finishing do not look stalled.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from types import TracebackType
from typing import Any

from qx.exceptions import OpsError
from qx.worker import Settled, WorkerRuntime, WorkerSettings

log = logging.getLogger("qx.probes")

ENV_PORT = WorkerSettings.env_name("probes_port")
ENV_HOST = WorkerSettings.env_name("probes_host")
ENV_STALL_AFTER = WorkerSettings.env_name("probes_stall_after")
DEFAULT_STALL_AFTER: float = WorkerSettings.model_fields["probes_stall_after"].default
_READ_TIMEOUT = 5.0
_MAX_REQUEST_HEAD = 8 * 1024
_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    501: "Not Implemented",
    503: "Service Unavailable",
}


class ProbeServer:
    """Serves the probes for one worker until ``close()``; ``port`` is the bound port."""

    def __init__(self, worker: WorkerRuntime, *, stall_after: float = DEFAULT_STALL_AFTER) -> None:
        if stall_after <= 0:
            raise ValueError("stall_after must be > 0 seconds")
        self.worker = worker
        self.stall_after = stall_after
        self._last_settled = 0.0
        self._server: asyncio.Server | None = None
        worker.add_listener(self._on_settled)

    def _on_settled(self, settled: Settled) -> None:
        self._last_settled = time.monotonic()

    @property
    def port(self) -> int:
        if self._server is None or not self._server.sockets:
            raise RuntimeError("probe server is not listening; call start() first")
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self, host: str, port: int) -> None:
        try:
            self._server = await asyncio.start_server(
                self._handle, host, port, limit=_MAX_REQUEST_HEAD
            )
        except OSError as exc:
            raise OpsError(
                f"cannot serve probes on {host}:{port} ({exc.strerror or exc}); choose another "
                f"port with {ENV_PORT}"
            ) from None
        log.info("probes on http://%s:%d (/healthz /readyz /metrics)", host, self.port)

    async def close(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
            await server.wait_closed()

    async def __aenter__(self) -> ProbeServer:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- the checks ------------------------------------------------------------------------

    def health(self) -> tuple[bool, dict[str, Any]]:
        if not self.worker.is_running:
            # Starting up or draining: not wedged, so not a reason to be killed.
            return True, {"status": "ok", "running": False}
        last = max(self.worker.stats.last_progress, self._last_settled)
        idle = time.monotonic() - last
        body: dict[str, Any] = {
            "status": "ok",
            "running": True,
            "seconds_since_progress": round(idle, 3),
            "stall_after": self.stall_after,
            "in_flight": self.worker.stats.in_flight,
        }
        if idle > self.stall_after:
            body["status"] = "stalled"
            return False, body
        return True, body

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        ready = self.worker.is_ready
        return ready, {
            "status": "ready" if ready else "not ready",
            "running": self.worker.is_running,
            "consumer_ready": self.worker.consumer.is_ready,
        }

    # -- HTTP ------------------------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            status, ctype, body, head_only = await self._respond(reader)
            writer.write(_response(status, ctype, body, head_only))
            await writer.drain()
        except (ConnectionError, TimeoutError, asyncio.IncompleteReadError):
            pass  # client went away or never finished its request
        except Exception:
            log.exception("probe request failed")
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _respond(self, reader: asyncio.StreamReader) -> tuple[int, str, bytes, bool]:
        try:
            async with asyncio.timeout(_READ_TIMEOUT):
                head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.LimitOverrunError, ValueError):
            return 400, "text/plain", b"request head too large\n", False
        parts = head.split(b"\r\n", 1)[0].decode("latin-1").split()
        if len(parts) != 3 or not parts[2].startswith("HTTP/"):
            return 400, "text/plain", b"malformed request line\n", False
        method, target = parts[0], parts[1]
        if method not in ("GET", "HEAD"):
            return 405, "text/plain", b"use GET\n", False
        head_only = method == "HEAD"
        path = target.split("?", 1)[0]
        if path == "/healthz":
            ok, doc = self.health()
            return (200 if ok else 503), "application/json", _json(doc), head_only
        if path == "/readyz":
            ok, doc = self.readiness()
            return (200 if ok else 503), "application/json", _json(doc), head_only
        if path == "/metrics":
            status, ctype, body = await asyncio.to_thread(_render_metrics)
            return status, ctype, body, head_only
        return 404, "text/plain", b"not found; try /healthz, /readyz or /metrics\n", head_only


def _json(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode() + b"\n"


def _response(status: int, ctype: str, body: bytes, head_only: bool) -> bytes:
    head = (
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
        f"Content-Type: {ctype}\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Cache-Control: no-store\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode("latin-1") + (b"" if head_only else body)


def _render_metrics() -> tuple[int, str, bytes]:
    try:
        from prometheus_client import REGISTRY, generate_latest
        from prometheus_client.exposition import CONTENT_TYPE_LATEST
    except ImportError:
        return (
            501,
            "text/plain",
            b"/metrics needs prometheus-client and the OpenTelemetry SDK: pip install 'qx[otel]'\n",
        )
    return 200, CONTENT_TYPE_LATEST, generate_latest(REGISTRY)


async def start_probes(
    worker: WorkerRuntime,
    port: int = 0,
    *,
    host: str = "0.0.0.0",
    stall_after: float = DEFAULT_STALL_AFTER,
) -> ProbeServer:
    """Serve ``/healthz``, ``/readyz`` and ``/metrics`` for ``worker``; ``port=0`` picks one.

    Listens on all interfaces by default because kubelet probes the pod IP. Call
    ``configure_telemetry()`` (any time, before or after) for qx's metrics to appear.
    """
    server = ProbeServer(worker, stall_after=stall_after)
    await server.start(host, port)
    return server


async def start_probes_from_env(
    worker: WorkerRuntime, settings: WorkerSettings | None = None
) -> ProbeServer | None:
    """Probes if ``QX_PROBES_PORT`` is set (opt-in), else None.

    ``QX_PROBES_HOST`` (default 0.0.0.0) and ``QX_PROBES_STALL_AFTER`` (seconds, default 60)
    tune them. All three are ``WorkerSettings`` fields: pass the worker's checked settings, or
    they are read here by the same declarations (a bad value raises ``StartupError``).
    """
    if settings is not None:
        port, host, stall = settings.probes_port, settings.probes_host, settings.probes_stall_after
    else:
        port = WorkerSettings.setting("probes_port")
        host = WorkerSettings.setting("probes_host")
        stall = WorkerSettings.setting("probes_stall_after")
    if port is None:
        return None
    return await start_probes(worker, port, host=host, stall_after=stall)
