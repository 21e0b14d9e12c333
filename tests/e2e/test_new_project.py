"""The README's "your own service" flow, exactly as a new user runs it, outside this repository.

Both wheels are built from the working tree; a fresh venv in a temp dir gets the runtime wheel
alone first (a worker image: none of the generator's dependencies may come with it), then the
generator; ``qxgen init --qx-from`` makes a project that must install with
``pip install -e '.[dev]'``, generate, pass its own pytest, run under ``qxgen dev``, handle a
published event and show the stub's failure in ``qxgen dlq list``.

Installs use ``--no-index`` from the wheelhouse ``packaging/wheelhouse.py`` keeps under
``.qx/wheels`` (built from the index once per dependency change), so the test is offline and
needs nothing installed by hand.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from qx.embedded import EmbeddedNatsServer, free_port
from qxgen.commands._running import process_command
from tests.e2e.venv import run as _run
from tests.e2e.venv import venv_env as _env

pytestmark = pytest.mark.slow

# Generator-only distributions: a runtime install must bring none of them.
GENERATOR_ONLY = {
    "qxgen",
    "datamodel-code-generator",
    "jinja2",
    "click",
    "rich",
    "pyyaml",
    "black",
    "isort",
    "jsonschema",
    "referencing",
    "watchfiles",
}


def _installed(venv: Path, env: dict[str, str]) -> set[str]:
    out = _run([str(venv / "bin" / "pip"), "list", "--format=freeze"], venv, env)
    return {line.split("==")[0].lower().replace("_", "-") for line in out.splitlines() if line}


@pytest.mark.timeout(600)
def test_new_project_from_wheels(tmp_path: Path, wheels: tuple[Path, Path, Path]) -> None:
    runtime, generator, deps = wheels
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    env = _env(venv)
    pip = [str(venv / "bin" / "pip"), "install", "-q", "--no-index", "--find-links", str(deps)]
    pip += ["--find-links", str(runtime.parent)]

    # A worker image: the runtime alone.
    _run([*pip, str(runtime)], tmp_path, env)
    assert not _installed(venv, env) & GENERATOR_ONLY
    _run(
        [str(venv / "bin" / "python"), "-c", "import qx.service, qx.worker, qx.events"],
        tmp_path,
        env,
    )

    # A developer: the generator, then a new project.
    _run([*pip, str(generator)], tmp_path, env)
    _run(["qxgen", "init", "my-service", "--qx-from", str(runtime.parent)], tmp_path, env)
    project = tmp_path / "my-service"
    assert ".qx/" in (project / ".gitignore").read_text().splitlines()
    _run([*pip, "-e", ".[dev]"], project, env)
    assert "up to date" in _run(["qxgen", "generate", "--check"], project, env)
    _run(["qxgen", "generate"], project, env)
    tests = _run([str(venv / "bin" / "pytest"), "-q", "-p", "no:cacheprovider"], project, env)
    assert "1 passed" in tests

    port = free_port()
    url = f"nats://127.0.0.1:{port}"
    dev = subprocess.Popen(
        ["qxgen", "dev", "--port", str(port)],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    seen: list[str] = []
    assert dev.stdout is not None
    reader = threading.Thread(target=lambda: [lines.put(line) for line in dev.stdout], daemon=True)  # type: ignore[union-attr]
    reader.start()

    def wait_for(text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in seen):
            assert dev.poll() is None, "qxgen dev exited:\n" + "".join(seen)
            try:
                seen.append(lines.get(timeout=max(0.0, deadline - time.monotonic())))
            except queue.Empty:
                raise AssertionError(f"no {text!r} from qxgen dev:\n" + "".join(seen)) from None

    try:
        wait_for("consuming")
        published = _run(
            ["qxgen", "publish", "greetings.person.greeted", "--example", "--url", url],
            project,
            env,
        )
        assert "published greetings.person.greeted v1" in published
        wait_for("dead-lettered")
        listing = _run(["qxgen", "dlq", "list", "--url", url], project, env)
        assert "qx-dlq:MY_SERVICE:my_service:1" in listing
        assert "greetings.person.greeted" in listing
        assert "not implemented" in listing or "handler_failed" in listing
    finally:
        dev.send_signal(signal.SIGINT)
        try:
            dev.wait(30)
        except subprocess.TimeoutExpired:
            dev.kill()
            dev.wait()
        # A dev that had to be killed leaves its server (own session): never leave it running.
        left = EmbeddedNatsServer(project / ".qx" / "nats").running_pid()
        if left is not None and process_command(left) is not None:
            os.kill(left, signal.SIGKILL)
    reader.join(5)
    while not lines.empty():
        seen.append(lines.get())
    assert dev.returncode == 0, "".join(seen)
    assert any("nats-server stopped" in line for line in seen), "".join(seen)
