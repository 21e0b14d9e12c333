"""``QX_PROCESSES=N``: N worker processes on one durable, under a small supervisor.

One Python process uses one core. JetStream hands a durable pull consumer's messages to every
client pulling from it, so N processes on the same durable share the work with no
coordination between them (the same holds for replicas on other machines). The supervisor:

* starts N children by running the same command line again (``sys.orig_argv``, so
  ``python -m service.worker`` and console scripts both work), each with ``QX_PROCESSES=1``
  and ``QX_PROCESS_INDEX=<i>`` in its environment;
* on SIGTERM/SIGINT forwards SIGTERM to every child (each drains: in-flight handlers finish,
  unstarted messages are handed back) and exits once all have exited;
* restarts a child that exits on its own (crash, OOM kill) after a backoff that doubles up to
  ``restart_max`` and starts over once a child has run for ``stable_after`` seconds — except a
  child that exits with 78 (a bad setting) or 69 (no JetStream): restarting cannot fix those,
  so the supervisor stops every child and exits with that code;
* with ``QX_PROBES_PORT=P`` gives child i the port P+1+i and serves the group's
  ``/healthz`` and ``/readyz`` on P itself: 200 only if every child answers 200.

Hand-rolled because the job is small (start, signal, restart) and a process manager
(supervisord, a container runtime) would be one more thing to install and configure; under
Kubernetes, prefer replicas of a single-process worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Mapping, Sequence

from qx.exceptions import EXIT_CONFIG, EXIT_UNAVAILABLE
from qx.worker._settings import WorkerSettings, load_settings

log = logging.getLogger("qx.supervisor")

ENV_PROCESSES = WorkerSettings.env_name("processes")
ENV_INDEX = WorkerSettings.env_name("process_index")
ENV_PROBES_PORT = WorkerSettings.env_name("probes_port")
_PROBE_TIMEOUT = 2.0
#: A child exiting with one of these cannot succeed by restarting: the group stops.
FATAL_EXIT_CODES = frozenset({EXIT_CONFIG, EXIT_UNAVAILABLE})


def requested_processes(env: Mapping[str, str] | None = None) -> int:
    """``QX_PROCESSES`` (default 1). A child always runs one worker itself."""
    if WorkerSettings.setting("process_index", env) is not None:
        return 1
    processes: int = WorkerSettings.setting("processes", env)
    return processes


class Supervisor:
    def __init__(
        self,
        processes: int,
        argv: Sequence[str] | None = None,
        *,
        restart_base: float = 0.5,
        restart_max: float = 30.0,
        stable_after: float = 60.0,
        env: Mapping[str, str] | None = None,
        probes_port: int | None = None,
        probes_host: str = "0.0.0.0",
    ) -> None:
        if processes < 1:
            raise ValueError("processes must be >= 1")
        self.processes = processes
        self.argv = list(argv if argv is not None else sys.orig_argv)
        self.restart_base = restart_base
        self.restart_max = restart_max
        self.stable_after = stable_after
        self.env = dict(os.environ if env is None else env)
        self.probes_port = probes_port
        self.probes_host = probes_host
        self.fatal: int | None = None  # a child's exit code that stopped the group
        self.children: dict[int, asyncio.subprocess.Process] = {}
        self.restarts = 0
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        """Drain every child and return from ``run()`` once they have exited."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        for proc in self.children.values():
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)

    async def run(self) -> int:
        """Supervise until stopped; 0 if every child drained cleanly, the fatal exit code of a
        child (78, 69) that stopped the group, else 1."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop)
        server = await self._serve_probes() if self.probes_port else None
        log.info("supervising %d worker processes: %s", self.processes, " ".join(self.argv))
        try:
            results = await asyncio.gather(*(self._keep(i) for i in range(self.processes)))
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
            if server is not None:
                server.close()
                await server.wait_closed()
        if self.fatal is not None:
            return self.fatal
        return 0 if all(code == 0 for code in results) else 1

    async def _keep(self, index: int) -> int:
        """Run child ``index`` until stopping; restart it when it exits on its own."""
        delay = self.restart_base
        while True:
            started = time.monotonic()
            proc = await asyncio.create_subprocess_exec(*self.argv, env=self._child_env(index))
            self.children[index] = proc
            if self._stopping.is_set():  # stop() came while it was starting
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
            log.info("worker process %d started (pid %d)", index, proc.pid)
            code = await proc.wait()
            if self._stopping.is_set():
                log.info("worker process %d (pid %d) exited with %d", index, proc.pid, code)
                # Killed by our own SIGTERM before it installed its handlers: it was still
                # starting (a worker consumes only after that), so nothing was in flight.
                return 0 if code == -signal.SIGTERM else code
            if code in FATAL_EXIT_CODES:
                log.error(
                    "worker process %d (pid %d) exited with %d (%s); restarting cannot help: "
                    "stopping all worker processes",
                    index,
                    proc.pid,
                    code,
                    "bad configuration" if code == EXIT_CONFIG else "server unavailable",
                )
                self.fatal = code
                self.stop()
                return code
            if time.monotonic() - started >= self.stable_after:
                delay = self.restart_base
            log.error(
                "worker process %d (pid %d) exited unexpectedly with %d; restarting in %.1fs",
                index,
                proc.pid,
                code,
                delay,
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)
            if self._stopping.is_set():
                return 0  # stopped while waiting to restart: nothing of this slot is running
            delay = min(delay * 2, self.restart_max)
            self.restarts += 1

    def _child_env(self, index: int) -> dict[str, str]:
        env = {**self.env, ENV_PROCESSES: "1", ENV_INDEX: str(index)}
        if self.probes_port:
            env[ENV_PROBES_PORT] = str(self.probes_port + 1 + index)
        return env

    # -- group probes --------------------------------------------------------------------

    async def _serve_probes(self) -> asyncio.Server:
        assert self.probes_port is not None
        return await asyncio.start_server(self._answer, self.probes_host, self.probes_port)

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), _PROBE_TIMEOUT)
            parts = line.decode("latin-1").split()
            path = parts[1] if len(parts) >= 2 else "/"
            if path not in ("/healthz", "/readyz"):
                status, body = 404, b'{"status": "not found"}'
            else:
                codes = await asyncio.gather(
                    *(self._child_status(i, path) for i in range(self.processes))
                )
                ok = all(code == 200 for code in codes)
                status = 200 if ok else 503
                body = json.dumps(
                    {"status": "ok" if ok else "unavailable", "children": codes}
                ).encode()
            writer.write(
                f"HTTP/1.1 {status} {'OK' if status == 200 else 'Unavailable'}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n".encode()
                + body
            )
            await writer.drain()
        except (OSError, TimeoutError):
            pass
        finally:
            writer.close()

    async def _child_status(self, index: int, path: str) -> int:
        """The child's own probe answer (0 if it does not answer)."""
        proc = self.children.get(index)
        if proc is None or proc.returncode is not None or self.probes_port is None:
            return 0
        try:
            async with asyncio.timeout(_PROBE_TIMEOUT):
                reader, writer = await asyncio.open_connection(
                    "127.0.0.1", self.probes_port + 1 + index
                )
                writer.write(f"GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
                await writer.drain()
                status = (await reader.readline()).split()
                writer.close()
            return int(status[1]) if len(status) >= 2 and status[1].isdigit() else 0
        except (OSError, TimeoutError):
            return 0


async def supervise_from_env(settings: WorkerSettings | None = None) -> int | None:
    """If ``QX_PROCESSES`` > 1 (and this is not a child), supervise that many copies of this
    process and return its exit status; otherwise None (run the worker here).

    ``settings`` are the checked worker settings (``run_worker`` checks every one before
    forking, so a bad value is one line from the parent, not N restarting children); without
    them they are read here, a bad value raising ``StartupError``.
    """
    if settings is None:
        settings = load_settings(WorkerSettings)
    if settings.process_index is not None or settings.processes == 1:
        return None
    return await Supervisor(
        settings.processes, probes_port=settings.probes_port, probes_host=settings.probes_host
    ).run()
