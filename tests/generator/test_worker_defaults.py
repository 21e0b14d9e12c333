"""One definition of each worker setting: [tool.qxgen.worker] is judged by WorkerSettings.

A default the runtime would reject fails ``qxgen generate`` naming the key and the rule; one it
accepts (``handler_timeout = 0`` = no limit) is baked in and still loses to ``QX_*``.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from qx.worker import WorkerSettings
from qxgen.cli import cli
from tests.generator.test_cli import EVENT, write_schema


def make_project(root: Path, worker_table: str) -> Path:
    (root / "pyproject.toml").write_text(
        '[tool.qxgen]\nschemas = "schemas"\npackage = "wsvc"\n\n[tool.qxgen.worker]\n'
        + worker_table
    )
    write_schema(root / "schemas" / "thing.json", {**EVENT, "properties": {}, "required": []})
    return root


@pytest.fixture
def clean_modules() -> Iterator[None]:
    yield
    for name in [m for m in sys.modules if m == "wsvc" or m.startswith("wsvc.")]:
        del sys.modules[name]


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("max_deliver = 0\n", "max_deliver = 0: Input should be greater than or equal to 1"),
        ("concurrency = 1.5\n", "concurrency = 1.5: Input should be a valid integer"),
        ('ack_wait = "30"\n', "ack_wait = '30': Input should be a valid number"),
        ("handler_timeout = -1\n", "handler_timeout = -1: Input should be greater than or equal"),
        ('log_format = "json"\n', "log_format: read from the environment only; set QX_LOG_FORMAT"),
        ("processes = 2\n", "processes: read from the environment only; set QX_PROCESSES"),
        ("concurency = 4\n", "concurency: unknown setting (known: stream, durable, concurrency"),
        ('stream = "S"\n', "set stream in [tool.qxgen], not in [tool.qxgen.worker]"),
    ],
)
def test_a_default_the_runtime_would_reject_fails_generate(
    tmp_path: Path, table: str, message: str
) -> None:
    project = make_project(tmp_path, table)
    result = CliRunner().invoke(cli, ["generate", "-C", str(project)])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert not (project / "wsvc").exists()


def test_accepted_defaults_are_baked_in_and_env_still_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean_modules: None
) -> None:
    project = make_project(tmp_path, "handler_timeout = 0\nmax_deliver = 9\nprovision = false\n")
    result = CliRunner().invoke(cli, ["generate", "-C", str(project)])
    assert result.exit_code == 0, result.output
    monkeypatch.syspath_prepend(str(project))
    settings_cls = importlib.import_module("wsvc.worker").Settings
    assert issubclass(settings_cls, WorkerSettings)
    defaults = settings_cls()
    assert (defaults.handler_timeout, defaults.max_deliver, defaults.provision) == (0, 9, False)
    assert defaults.stream == "WSVC"
    monkeypatch.setenv("QX_MAX_DELIVER", "3")
    monkeypatch.setenv("QX_HANDLER_TIMEOUT", "0")
    overridden = settings_cls()
    assert overridden.max_deliver == 3
    assert overridden.handler_timeout == 0


def test_every_setting_has_its_doc() -> None:
    undocumented = [n for n, f in WorkerSettings.model_fields.items() if not f.description]
    assert not undocumented


def _readme_rows() -> list[tuple[str, str]]:
    """(variable, default cell) of each ``QX_*`` row of the README's configuration table."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    table = readme.split("## Configuration reference", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[0].startswith("`QX_"):
            rows.append((cells[0].strip("`"), cells[1]))
    return rows


def _shown(value: object) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def test_the_readme_configuration_table_lists_every_setting_once_with_its_default() -> None:
    rows = _readme_rows()
    names = [name for name, _ in rows]
    assert sorted(names) == sorted(WorkerSettings.env_name(n) for n in WorkerSettings.model_fields)
    fields = {WorkerSettings.env_name(n): f for n, f in WorkerSettings.model_fields.items()}
    for name, cell in rows:
        default = fields[name].default
        if default is not None:
            assert cell == f"`{_shown(default)}`", (name, cell, default)


def test_process_level_settings_are_not_service_defaults() -> None:
    problems = WorkerSettings.check_defaults({"processes": 4, "event_loop": "asyncio"})
    assert problems == [
        "processes: read from the environment only; set QX_PROCESSES where the worker runs instead",
        "event_loop: read from the environment only; set QX_EVENT_LOOP where the worker runs "
        "instead",
    ]
