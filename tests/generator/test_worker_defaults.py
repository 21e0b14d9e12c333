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
        ('log_format = "xml"\n', "log_format = 'xml': Input should be 'text' or 'json'"),
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


def test_the_readme_configuration_table_names_every_setting() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    missing = [
        WorkerSettings.env_name(name)
        for name in WorkerSettings.model_fields
        if WorkerSettings.env_name(name) not in readme
    ]
    assert not missing
