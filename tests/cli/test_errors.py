"""One error style across qxgen: ``error: ...`` on stderr, the documented exit code, no traceback;
and NATS failures said as what they are (JetStream off, auth refused, nothing listening)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from qx.embedded import EmbeddedNatsServer, free_port
from qxgen.errors import EXIT_FAILED, EXIT_USAGE
from tests.cli.conftest import EXAMPLE, run_qxgen
from tests.plain_server import serve


def only_error_line(done: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in done.stderr + done.stdout
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, done.stderr
    assert not any(line.startswith("Error") for line in done.stderr.splitlines())
    return errors[0]


@pytest.fixture
def no_jetstream(no_jetstream_url: str) -> str:
    return no_jetstream_url


@pytest.fixture
def with_auth(tmp_path: Path) -> Iterator[str]:
    yield from serve("-js", "-sd", str(tmp_path / "js"), "--user", "u", "--pass", "p")


def test_usage_errors_are_exit_2_in_the_same_style() -> None:
    done = run_qxgen("dlq", "list", "--no-such-option")
    assert done.returncode == EXIT_USAGE
    assert "No such option" in only_error_line(done)
    assert "Usage: " in done.stderr


def test_project_errors_are_exit_2(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.qxgen]\npackage = "not a package"\n')
    done = run_qxgen("generate", cwd=tmp_path)
    assert done.returncode == EXIT_USAGE
    assert "is not a valid dotted Python module name" in only_error_line(done)


def test_nothing_listening_is_exit_1() -> None:
    url = f"nats://127.0.0.1:{free_port()}"
    done = run_qxgen("dlq", "list", "--url", url)
    assert done.returncode == EXIT_FAILED
    assert only_error_line(done).startswith(f"error: cannot reach NATS at {url}")


def test_jetstream_disabled_is_said_as_such(no_jetstream: str) -> None:
    for args in (
        ["dlq", "list", "--url", no_jetstream],
        ["publish", "orders.order.placed", "--example", "--url", no_jetstream],
    ):
        done = run_qxgen(*args, cwd=EXAMPLE)
        assert done.returncode == EXIT_FAILED, done.stderr
        line = only_error_line(done)
        assert f"JetStream is not enabled on the NATS server at {no_jetstream}" in line


def test_refused_credentials_are_said_as_such(with_auth: str) -> None:
    done = run_qxgen("dlq", "list", "--url", with_auth)
    assert done.returncode == EXIT_FAILED
    line = only_error_line(done)
    assert line.startswith(f"error: auth failed at {with_auth}"), line
    assert "start the server" not in line


@pytest.fixture(scope="module")
def initialised(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One `qxgen init` project (generating takes seconds); each test breaks a copy."""
    root = tmp_path_factory.mktemp("init") / "brk"
    assert run_qxgen("init", str(root)).returncode == 0
    return root


@pytest.mark.parametrize(
    ("broken", "expected"),
    [
        ("x = (\n", "line 1: SyntaxError: '(' was never closed"),
        ("import os\nos.no_such_thing()\n", "line 2: AttributeError: module 'os' has no attribute"),
        ("import no_such_module_qx\n", "line 1: ModuleNotFoundError: No module named"),
    ],
)
def test_a_handler_that_does_not_import_is_named_with_its_line(
    tmp_path: Path, initialised: Path, broken: str, expected: str
) -> None:
    shutil.copytree(initialised, tmp_path / "brk")
    handler = tmp_path / "brk" / "brk" / "handlers" / "person_greeted_v1.py"
    handler.write_text(broken)
    done = run_qxgen("dev", "--url", f"nats://127.0.0.1:{free_port()}", cwd=tmp_path / "brk")
    assert done.returncode == EXIT_FAILED
    line = only_error_line(done)
    assert line.startswith("error: import error in brk/handlers/person_greeted_v1.py "), line
    assert expected in line
    assert "qxgen generate" not in line


def test_dev_with_a_bad_setting_is_one_line_and_leaves_no_server(
    tmp_path: Path, initialised: Path
) -> None:
    project = shutil.copytree(initialised, tmp_path / "brk")
    done = subprocess.run(
        [sys.executable, "-m", "qxgen", "dev", "--port", str(free_port())],
        cwd=project,
        env={**os.environ, "QX_LOG_LEVEL": "LOUD"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == EXIT_USAGE, done.stderr
    assert only_error_line(done).startswith("error: QX_LOG_LEVEL='LOUD': Input should be")
    assert EmbeddedNatsServer(project / ".qx" / "nats").running_pid() is None
