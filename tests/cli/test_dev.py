"""``qxgen dev`` as a user runs it: a process that prints the URL, handles what is published,
stops worker and server on SIGINT, and never runs two servers on one store."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from qx.embedded import EmbeddedNatsServer, free_port
from qxgen.cli import cli
from qxgen.commands._running import process_command
from tests.cli.conftest import EXAMPLE, REPO, run_qxgen

pytestmark = [pytest.mark.nats, pytest.mark.usefixtures("forget_example")]


class Dev:
    """A running ``qxgen dev``; ``expect`` waits (bounded) for a line of its output."""

    def __init__(self, project: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "qxgen", "dev", "-C", str(project), *args],
            cwd=REPO,
            env={
                **os.environ,
                "PYTHONUNBUFFERED": "1",
                "COLUMNS": "200",
                "QX_LOG_LEVEL": "INFO",
                **(env or {}),
            },
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def expect(self, text: str, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            for line in self.lines:
                if text in line:
                    return line
            try:
                line = self._queue.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                raise AssertionError(f"no {text!r} within {timeout}s:\n" + self.output) from None
            if line is None:
                raise AssertionError(f"exited before {text!r}:\n" + self.output)
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def stop(self, sig: int = signal.SIGINT, timeout: float = 20.0) -> int:
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout)
        while (line := self._queue.get(timeout=5)) is not None:
            self.lines.append(line)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the example service, so the test's `.qx/nats/` store is its own."""
    import shutil

    dst = tmp_path / "shop"
    shutil.copytree(EXAMPLE, dst, ignore=shutil.ignore_patterns("__pycache__", ".qx"))
    return dst


@pytest.fixture
def devs(project: Path) -> Iterator[list[Dev]]:
    started: list[Dev] = []
    yield started
    for dev in started:
        dev.kill()
    pid = EmbeddedNatsServer(project / ".qx" / "nats").running_pid()
    if pid is not None and process_command(pid) is not None:
        os.kill(pid, signal.SIGKILL)


def server_pid(project: Path) -> int:
    pid = EmbeddedNatsServer(project / ".qx" / "nats").running_pid()
    assert pid is not None
    return pid


def servers_on(store: Path) -> list[str]:
    listing = subprocess.run(["ps", "-ww", "-eo", "stat=,command="], capture_output=True, text=True)
    return [
        line
        for line in listing.stdout.splitlines()
        if "nats-server" in line and str(store) in line and not line.startswith("Z")
    ]


def test_dev_handles_a_published_event_and_sigint_stops_both(
    project: Path, devs: list[Dev]
) -> None:
    port = free_port()
    dev = Dev(project, "--port", str(port))
    devs.append(dev)
    url = f"nats://127.0.0.1:{port}"
    assert dev.expect("NATS ") == f"NATS {url} (embedded, store .qx/nats/)"
    dev.expect("qxgen dlq list --url " + url)
    dev.expect("worker shop_service consuming")
    server = server_pid(project)

    published = CliRunner().invoke(
        cli,
        ["publish", "orders.order.placed", "--example", "--url", url, "-C", str(project)],
        catch_exceptions=False,
    )
    assert published.exit_code == 0, published.output
    dev.expect("reserving 2 unit(s) of 1 sku(s)")  # the handler's own log line
    dev.expect("✓ orders.order.placed v1 handled (delivery 1)")

    assert dev.stop(signal.SIGINT) == 0, dev.output
    assert "SIGINT received: draining" in dev.output
    assert dev.output.splitlines()[-1] == "stopped: worker drained, nats-server stopped"
    assert "Traceback" not in dev.output
    assert process_command(server) is None
    assert not (project / ".qx" / "nats" / "dev.json").exists()


def test_a_server_left_by_a_killed_dev_is_replaced_not_duplicated(
    project: Path, devs: list[Dev]
) -> None:
    store = project / ".qx" / "nats"
    port = free_port()
    first = Dev(project, "--port", str(port))
    devs.append(first)
    first.expect("worker shop_service consuming")
    orphan = server_pid(project)
    first.kill()  # SIGKILL: no cleanup, the server keeps running
    assert process_command(orphan) is not None

    second = Dev(project, "--port", str(port))
    devs.append(second)
    assert second.expect("stopping nats-server") == (
        f"stopping nats-server pid {orphan} left running by an earlier qxgen dev"
    )
    second.expect("worker shop_service consuming")
    assert process_command(orphan) is None
    assert len(servers_on(store)) == 1, servers_on(store)

    # While it runs, a third one refuses instead of taking the store over.
    third = run_qxgen("dev", "-C", str(project), "--port", str(free_port()), timeout=30)
    assert third.returncode == 1
    assert third.stderr.strip().startswith(
        f"error: qxgen dev is already running for this project (pid {second.proc.pid}, NATS "
        f"at nats://127.0.0.1:{port})"
    )
    assert len(servers_on(store)) == 1

    assert second.stop(signal.SIGINT) == 0, second.output
    assert servers_on(store) == []


def test_dev_with_url_uses_that_server_and_leaves_it_running(
    project: Path, devs: list[Dev], no_stream_server: EmbeddedNatsServer
) -> None:
    dev = Dev(project, "--url", no_stream_server.url)
    devs.append(dev)
    assert dev.expect("NATS ") == f"NATS {no_stream_server.url} (external)"
    dev.expect("worker shop_service consuming")
    assert dev.stop(signal.SIGINT) == 0, dev.output
    assert dev.output.splitlines()[-1] == "stopped: worker drained"
    assert no_stream_server.is_running
    assert not (project / ".qx").exists()

    down = run_qxgen("dev", "-C", str(project), "--url", f"nats://127.0.0.1:{free_port()}")
    assert down.returncode == 1
    assert "Traceback" not in down.stderr
    assert down.stderr.strip().startswith("error: cannot reach NATS at nats://127.0.0.1:")
