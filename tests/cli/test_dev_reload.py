"""``qxgen dev`` reloads: an edited handler, a new schema and a broken import, on one server."""

from __future__ import annotations

import json
import os
import queue
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from qx.embedded import EmbeddedNatsServer, free_port
from qxgen.cli import cli
from qxgen.commands._running import process_command
from tests.cli.conftest import run_qxgen
from tests.cli.test_dev import Dev

pytestmark = [pytest.mark.nats, pytest.mark.usefixtures("forget_example")]

HANDLER = '''"""Implemented by the test."""

import logging

from qx.core import Result
from qx.cqrs import integration_event_handler

from ..integration.events import PersonGreetedV1


@integration_event_handler(PersonGreetedV1)
class PersonGreetedV1Handler:
    async def handle(self, event: PersonGreetedV1) -> Result[None]:
        logging.getLogger("reloadsvc").info("hello %s from the edited handler", event.name)
        return Result.success(None)
'''
WAVED = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Waved",
    "x-qx-event": {"type": "greetings.person.waved", "version": 1},
    "type": "object",
    "properties": {"name": {"type": "string"}},
    "required": ["name"],
    "examples": [{"name": "Grace"}],
}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    done = CliRunner().invoke(cli, ["init", str(tmp_path / "reloadsvc")], catch_exceptions=False)
    assert done.exit_code == 0, done.output
    return tmp_path / "reloadsvc"


@pytest.fixture
def dev(project: Path) -> Iterator[Dev]:
    running = Dev(project, "--port", str(free_port()))
    yield running
    running.kill()
    # A dev killed by a failing test leaves its server (own session) behind: stop it.
    pid = EmbeddedNatsServer(project / ".qx" / "nats").running_pid()
    if pid is not None and process_command(pid) is not None:
        os.kill(pid, signal.SIGKILL)


def expect_nth(dev: Dev, text: str, n: int, timeout: float = 20.0) -> None:
    """Wait until ``text`` has appeared ``n`` times (``Dev.expect`` finds the first one)."""
    deadline = time.monotonic() + timeout
    while sum(text in line for line in dev.lines) < n:
        try:
            line = dev._queue.get(timeout=max(deadline - time.monotonic(), 0.01))
        except queue.Empty:
            raise AssertionError(f"{text!r} not seen {n} times:\n" + dev.output) from None
        if line is None:
            raise AssertionError(f"exited before {text!r} x{n}:\n" + dev.output)
        dev.lines.append(line)


def publish(project: Path, event: str, url: str) -> str:
    done = run_qxgen("publish", event, "--example", "--url", url, cwd=project)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_dev_reloads_handlers_and_schemas_on_the_same_server(project: Path, dev: Dev) -> None:
    url = dev.expect("NATS ").split()[1]
    dev.expect("worker reloadsvc consuming")
    handler = project / "reloadsvc" / "handlers" / "person_greeted_v1.py"

    handler.write_text(HANDLER)
    dev.expect("reload reloadsvc/handlers/person_greeted_v1.py changed: restarting the worker")
    expect_nth(dev, "worker reloadsvc consuming", 2)
    publish(project, "greetings.person.greeted", url)
    dev.expect("hello Ada from the edited handler")
    dev.expect("✓ greetings.person.greeted v1 handled (delivery 1)")

    (project / "schemas" / "greetings" / "waved.json").write_text(json.dumps(WAVED))
    dev.expect("reload schemas/greetings/waved.json changed: regenerated")
    dev.expect("greetings.person.waved.v1 from RELOADSVC")  # re-provisioned, new subject
    assert "published greetings.person.waved v1" in publish(project, "greetings.person.waved", url)
    dev.expect("greetings.person.waved v1 dead-lettered (delivery 1)")  # the new stub

    handler.write_text(HANDLER.replace("return Result.success(None)", "return Result.success(None"))
    line = dev.expect("not running:")
    assert "import error in reloadsvc/handlers/person_greeted_v1.py line 15: SyntaxError" in line
    handler.write_text(HANDLER)
    expect_nth(dev, "reload reloadsvc/handlers/person_greeted_v1.py changed", 3)
    expect_nth(dev, "worker reloadsvc consuming", 4)
    publish(project, "greetings.person.greeted", url)
    expect_nth(dev, "hello Ada from the edited handler", 2)

    assert dev.stop(signal.SIGINT) == 0, dev.output
    assert "Traceback" not in dev.output
    assert dev.output.splitlines()[-1] == "stopped: worker drained, nats-server stopped"


def test_spans_are_still_exported_after_a_reload(project: Path) -> None:
    """OpenTelemetry providers can be installed once per process: a reload must flush the
    first worker's spans, not shut the exporter down under the next worker."""
    dev = Dev(project, "--port", str(free_port()), env={"OTEL_TRACES_EXPORTER": "console"})
    try:
        url = dev.expect("NATS ").split()[1]
        dev.expect("worker reloadsvc consuming")
        span = '"name": "process greetings.person.greeted.v1"'
        publish(project, "greetings.person.greeted", url)
        expect_nth(dev, span, 1)
        handler = project / "reloadsvc" / "handlers" / "person_greeted_v1.py"
        handler.write_text(HANDLER)
        expect_nth(dev, "worker reloadsvc consuming", 2)
        publish(project, "greetings.person.greeted", url)
        dev.expect("hello Ada from the edited handler")
        expect_nth(dev, span, 2)
        assert dev.stop(signal.SIGINT) == 0, dev.output
        assert "already shutdown" not in dev.output
    finally:
        dev.kill()
        pid = EmbeddedNatsServer(project / ".qx" / "nats").running_pid()
        if pid is not None and process_command(pid) is not None:
            os.kill(pid, signal.SIGKILL)
