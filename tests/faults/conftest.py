"""Fault scenarios (``make test-faults``): real servers and worker processes, killed on purpose.

Files are named ``fault_*.py`` so the default ``pytest`` run (``make test``) does not collect
them; the make target selects them with ``-o python_files=fault_*.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from qx.embedded import EmbeddedNatsServer
from tests.faults.harness import RESULTS, Cluster


@pytest.fixture
def server(tmp_path: Path) -> Iterator[EmbeddedNatsServer]:
    with EmbeddedNatsServer(tmp_path / "nats") as srv:
        yield srv


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(tmp_path / "cluster")
    c.start()
    try:
        yield c
    finally:
        c.stop()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not RESULTS:
        return
    terminalreporter.section("fault scenarios: published = handled + dead-lettered")
    for report in RESULTS:
        terminalreporter.write_line(report.line())
