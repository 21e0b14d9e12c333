"""A worker that cannot start says why in one line: the variable, its value, what is accepted.

Each case runs the generated example worker (``python -m shop_service.worker``) as a user would
and checks stderr and the documented exit code (78 = a setting, 69 = the server cannot serve
it); never a traceback.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from qx.embedded import free_port
from qx.service import EXIT_CONFIG, EXIT_UNAVAILABLE

SERVICE = Path(__file__).resolve().parents[2] / "examples" / "shop_service"


def start_worker(
    env: dict[str, str], timeout: float = 20, args: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("QX_", "NATS_", "OTEL_"))}
    return subprocess.run(
        [sys.executable, "-m", "shop_service.worker", *args],
        cwd=SERVICE,
        env={**base, "NATS_URL": f"nats://127.0.0.1:{free_port()}", **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"QX_LOG_LEVEL": "LOUD"}, "QX_LOG_LEVEL='LOUD': Input should be 'DEBUG', 'INFO'"),
        ({"QX_LOG_FORMAT": "xml"}, "QX_LOG_FORMAT='xml': Input should be 'text' or 'json'"),
        ({"QX_CONCURRENCY": "abc"}, "QX_CONCURRENCY='abc': Input should be a valid integer"),
        ({"QX_MAX_DELIVER": "0"}, "QX_MAX_DELIVER='0': Input should be greater than or equal"),
        ({"QX_PROBES_PORT": "abc"}, "QX_PROBES_PORT='abc': Input should be a valid integer"),
        ({"QX_PROBES_PORT": "99999"}, "QX_PROBES_PORT='99999': Input should be less than or"),
        ({"QX_PROBES_STALL_AFTER": "0"}, "QX_PROBES_STALL_AFTER='0': Input should be greater"),
        ({"QX_EVENT_LOOP": "bogus"}, "QX_EVENT_LOOP='bogus': Input should be 'auto', 'asyncio'"),
        ({"QX_PROCESSES": "abc"}, "QX_PROCESSES='abc': Input should be a valid integer"),
        ({"QX_PROCESSES": "0"}, "QX_PROCESSES='0': Input should be greater than or equal to 1"),
        ({"QX_IDLE_HEARTBEAT": "20"}, "QX_IDLE_HEARTBEAT='20': must be at most half of"),
        # With QX_PROCESSES > 1 the supervisor checks everything before starting any child.
        (
            {"QX_PROCESSES": "2", "QX_LOG_LEVEL": "LOUD"},
            "QX_LOG_LEVEL='LOUD': Input should be 'DEBUG', 'INFO'",
        ),
        (
            {"QX_PROCESSES": "2", "QX_CONCURRENCY": "abc"},
            "QX_CONCURRENCY='abc': Input should be a valid integer",
        ),
        (
            {"QX_PROCESSES": "2", "NATS_CONNECT_TIMEOUT": "abc"},
            "NATS_CONNECT_TIMEOUT='abc': Input should be a valid number",
        ),
        (
            {"NATS_CONNECT_TIMEOUT": "abc"},
            "NATS_CONNECT_TIMEOUT='abc': Input should be a valid number",
        ),
        ({"QX_STREAM": "bad.name"}, "QX_STREAM='bad.name': 'bad.name': stream and consumer names"),
        ({"OTEL_TRACES_EXPORTER": "bogus"}, "OTEL_TRACES_EXPORTER='bogus': qx cannot set up bogus"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_variable(env: dict[str, str], expected: str) -> None:
    done = start_worker(env)
    assert done.returncode == EXIT_CONFIG, done.stderr
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, done.stderr
    assert expected in errors[0], errors[0]


def test_a_probes_port_in_use_is_named() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = start_worker({"QX_PROBES_PORT": str(port), "QX_PROBES_HOST": "127.0.0.1"})
    assert done.returncode == EXIT_CONFIG, done.stderr
    assert "Traceback" not in done.stderr
    assert f"cannot serve probes on 127.0.0.1:{port}" in done.stderr
    assert "QX_PROBES_PORT" in done.stderr


def test_a_server_without_jetstream_is_said_as_such(no_jetstream_url: str) -> None:
    # A server without auth ignores credentials: they must still never be printed.
    hostport = no_jetstream_url.removeprefix("nats://")
    done = start_worker({"NATS_URL": f"nats://ops:s3cr3t-pw@{hostport}"})
    assert done.returncode == EXIT_UNAVAILABLE, done.stderr
    assert "Traceback" not in done.stderr
    assert "s3cr3t-pw" not in done.stderr + done.stdout
    assert f"JetStream is not enabled on the NATS server at nats://ops:***@{hostport}" in (
        done.stderr
    )


@pytest.mark.parametrize(
    ("processes_env", "args"),
    [({"QX_PROCESSES": "2"}, ()), ({}, ("--processes", "2"))],
    ids=["QX_PROCESSES", "--processes"],
)
def test_a_child_exiting_78_stops_the_group_instead_of_restarting(
    processes_env: dict[str, str], args: tuple[str, ...]
) -> None:
    """Only child 0 cannot start (its probes port, P+1, is taken): the supervisor stops child 1
    too and exits 78 rather than restarting child 0 with backoff forever. ``--processes 2`` on
    the command line is the same as ``QX_PROCESSES=2``."""
    taken, group = _taken_port_after_a_free_one()
    with taken:
        child0 = group + 1
        started = time.monotonic()
        done = start_worker(
            {**processes_env, "QX_PROBES_PORT": str(group), "QX_PROBES_HOST": "127.0.0.1"},
            args=args,
        )
    assert done.returncode == EXIT_CONFIG, done.stderr
    assert time.monotonic() - started < 15
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, done.stderr
    assert errors[0].startswith(f"error: cannot serve probes on 127.0.0.1:{child0} ("), errors[0]
    assert "exited with 78 (bad configuration); restarting cannot help" in done.stderr
    assert "restarting in" not in done.stderr


def _taken_port_after_a_free_one() -> tuple[socket.socket, int]:
    """A listening socket on port P+1 whose neighbour P (the supervisor's port) is free."""
    for _ in range(50):
        taken = socket.socket()
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        group = taken.getsockname()[1] - 1
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", group))
            except OSError:
                taken.close()
                continue
        return taken, group
    raise AssertionError("no free port just below an ephemeral one in 50 tries")


def test_processes_flag_is_checked_like_the_variable() -> None:
    done = start_worker({}, args=("--processes", "0"))
    assert done.returncode == EXIT_CONFIG, done.stderr
    assert "Traceback" not in done.stderr
    assert "QX_PROCESSES='0': Input should be greater than or equal to 1" in done.stderr
    usage = start_worker({}, args=("--processes", "two"))
    assert usage.returncode == 2  # argparse: a usage error, with the usage line
    assert "--processes: invalid int value: 'two'" in usage.stderr
