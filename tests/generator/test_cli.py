"""The command line: generate, --check, scaffold handling, deletion, errors, init, templates."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from qxgen.cli import cli
from tests.generator.conftest import GOLDEN

EVENT = {
    "x-qx-event": {"type": "shop.thing.happened", "version": 1},
    "type": "object",
    "properties": {"name": {"type": "string"}, "price": {"$ref": "shared/money.json"}},
    "required": ["name"],
}
MONEY = {"type": "object", "properties": {"cents": {"type": "integer"}}, "required": ["cents"]}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.qxgen]\nschemas = "schemas"\npackage = "svc"\n\n'
        "[tool.qxgen.worker]\nconcurrency = 4\n"
    )
    write_schema(tmp_path / "schemas" / "thing.json", EVENT)
    write_schema(tmp_path / "schemas" / "shared" / "money.json", MONEY)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write_schema(path: Path, schema: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(schema, indent=2))


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_generate_reports_written_created_and_kept(project: Path) -> None:
    first = run("generate")
    assert first.exit_code == 0, first.output
    assert "wrote" in first.output
    assert "svc/integration/events.py" in first.output
    assert "created" in first.output
    assert "svc/handlers/thing_happened_v1.py" in first.output
    second = run("generate")
    assert second.exit_code == 0
    assert "0 written" in second.output
    assert "kept" in second.output


def test_check_passes_when_up_to_date_and_fails_with_a_diff_when_stale(project: Path) -> None:
    assert run("generate").exit_code == 0
    assert run("generate", "--check").exit_code == 0

    events = project / "svc" / "integration" / "events.py"
    events.write_text(events.read_text().replace("name:", "nome:"))
    stale = run("generate", "--check")
    assert stale.exit_code == 1
    assert "stale: svc/integration/events.py" in stale.output
    assert "-    nome:" in stale.output
    assert "+    name:" in stale.output


def test_check_fails_when_a_schema_changed(project: Path) -> None:
    assert run("generate").exit_code == 0
    changed = {**EVENT, "properties": {**EVENT["properties"], "extra": {"type": "boolean"}}}  # type: ignore[dict-item]
    write_schema(project / "schemas" / "thing.json", changed)
    result = run("generate", "--check")
    assert result.exit_code == 1
    assert "extra: bool" in result.output


def test_check_fails_when_scaffold_is_missing(project: Path) -> None:
    assert run("generate").exit_code == 0
    (project / "svc" / "handlers" / "thing_happened_v1.py").unlink()
    result = run("generate", "--check")
    assert result.exit_code == 1
    assert "missing scaffold: svc/handlers/thing_happened_v1.py" in result.output


def test_scaffold_is_never_overwritten(project: Path) -> None:
    assert run("generate").exit_code == 0
    handler = project / "svc" / "handlers" / "thing_happened_v1.py"
    handler.write_text("# mine\n")
    assert run("generate").exit_code == 0
    assert handler.read_text() == "# mine\n"
    assert run("generate", "--check").exit_code == 0


def test_owned_files_no_longer_produced_are_deleted(project: Path) -> None:
    other = {**EVENT, "x-qx-event": {"type": "shop.other.happened", "version": 1}}
    write_schema(project / "schemas" / "other.json", other)
    assert run("generate").exit_code == 0
    schema_file = project / "svc" / "integration" / "event_schemas" / "shop.other.happened.v1.json"
    assert schema_file.exists()
    (project / "schemas" / "other.json").unlink()
    assert run("generate", "--check").exit_code == 1
    result = run("generate")
    assert "deleted" in result.output
    assert not schema_file.exists()
    # The handler stub is the user's: kept.
    assert (project / "svc" / "handlers" / "other_happened_v1.py").exists()
    assert "OtherHappenedV1" not in (project / "svc" / "worker.py").read_text()


def test_unimplemented_stub_fails_non_retryably(project: Path, on_path: list[Path]) -> None:
    import asyncio
    import importlib
    import sys

    assert run("generate").exit_code == 0
    sys.path.insert(0, str(project))
    on_path.append(project)
    handler_module = importlib.import_module("svc.handlers.thing_happened_v1")
    events = importlib.import_module("svc.integration.events")
    event = events.ThingHappenedV1.model_validate({"name": "x"})
    result = asyncio.run(handler_module.ThingHappenedV1Handler().handle(event))
    assert not result.is_success
    assert result.error is not None
    assert result.error.retryable is False
    assert "not implemented yet" in result.error.message
    assert "svc/handlers/thing_happened_v1.py" in result.error.message


def test_worker_defaults_come_from_config_and_stay_env_overridable(
    project: Path, on_path: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib
    import sys

    assert run("generate", "--stream", "THINGS").exit_code == 0
    sys.path.insert(0, str(project))
    on_path.append(project)
    worker = importlib.import_module("svc.worker")
    assert worker.Settings().concurrency == 4
    assert worker.Settings().stream == "THINGS"
    monkeypatch.setenv("QX_CONCURRENCY", "9")
    assert worker.Settings().concurrency == 9


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("https://example.com/money.json", "remote refs are refused"),
        ("../../outside.json", "outside the schemas directory"),
        ("shared/nope.json", "no such schema file: schemas/shared/nope.json"),
        ("shared/money.json#/properties/nope", "cannot be resolved"),
    ],
)
def test_bad_refs_are_refused_with_file_and_pointer(project: Path, ref: str, expected: str) -> None:
    (project.parent / "outside.json").write_text(json.dumps(MONEY))
    event = {**EVENT, "properties": {"price": {"$ref": ref}}}
    write_schema(project / "schemas" / "thing.json", event)
    result = run("generate")
    assert result.exit_code == 2
    assert "schemas/thing.json#/properties/price/$ref" in result.output
    assert expected in result.output


def test_external_refs_are_followed_when_allowed(project: Path) -> None:
    (project / "outside.json").write_text(json.dumps(MONEY))
    write_schema(
        project / "schemas" / "thing.json",
        {**EVENT, "properties": {"price": {"$ref": "../outside.json"}}},
    )
    assert run("generate").exit_code == 2
    result = run("generate", "--allow-external-refs")
    assert result.exit_code == 0, result.output
    manifest = json.loads((project / "svc" / "integration" / "qxgen-manifest.json").read_text())
    assert any(k.endswith("outside.json") for k in manifest["inputs"])


@pytest.mark.parametrize(
    ("marker", "pointer"),
    [
        ({"type": "no spaces allowed", "version": 1}, "#/x-qx-event/type"),
        ({"type": "a.b", "version": 0}, "#/x-qx-event/version"),
        ({"type": "a.b", "version": 1, "stream": "a.b"}, "#/x-qx-event/stream"),
        ({"type": "a.b", "version": 1, "colour": "red"}, "#/x-qx-event"),
    ],
)
def test_bad_event_markers_point_at_the_field(project: Path, marker: object, pointer: str) -> None:
    write_schema(project / "schemas" / "thing.json", {**EVENT, "x-qx-event": marker})
    result = run("generate")
    assert result.exit_code == 2
    assert f"schemas/thing.json{pointer}" in result.output


def test_invalid_schema_points_at_the_keyword(project: Path) -> None:
    write_schema(
        project / "schemas" / "thing.json",
        {**EVENT, "properties": {"total": {"type": "integer", "minimum": "zero"}}},
    )
    result = run("generate")
    assert result.exit_code == 2
    assert "schemas/thing.json#/properties/total/minimum" in result.output


def test_duplicate_event_versions_are_refused(project: Path) -> None:
    write_schema(project / "schemas" / "again.json", EVENT)
    result = run("generate")
    assert result.exit_code == 2
    assert "shop.thing.happened v1 is also declared by" in result.output


def test_templates_override_by_file_name(project: Path) -> None:
    templates = project / "my-templates"
    templates.mkdir()
    (templates / "providers.py.jinja").write_text('"""Custom providers."""\n')
    assert run("generate", "--templates", str(templates)).exit_code == 0
    assert (project / "svc" / "providers.py").read_text() == '"""Custom providers."""\n'


def test_init_creates_a_service_that_checks_clean(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = run("init", "greeter-service")
    assert result.exit_code == 0, result.output
    service = tmp_path / "greeter-service"
    assert "[tool.qxgen]" in (service / "pyproject.toml").read_text()
    assert (service / "schemas" / "greetings" / "greeted.json").exists()
    assert (service / "greeter_service" / "worker.py").exists()
    monkeypatch.chdir(service)
    assert run("generate", "--check").exit_code == 0
    assert run("init").exit_code == 2  # already initialised


def test_golden_case_checks_clean_through_the_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = shutil.copytree(GOLDEN / "cross_file_refs", tmp_path / "case")
    monkeypatch.chdir(case)
    result = run("generate", "--check")
    assert result.exit_code == 0, result.output


def test_yaml_schemas_read_as_json_data(project: Path) -> None:
    (project / "schemas" / "thing.json").unlink()
    (project / "schemas" / "thing.yaml").write_text(
        "x-qx-event: {type: shop.thing.happened, version: 1}\n"
        "type: object\n"
        "properties:\n"
        "  on: {type: string, format: date, default: 2024-01-01}\n"
        "examples:\n"
        "  - {on: 2024-02-29}\n"
    )
    assert run("generate").exit_code == 0
    bundled = json.loads(
        (project / "svc/integration/event_schemas/shop.thing.happened.v1.json").read_text()
    )
    assert bundled["properties"]["on"]["default"] == "2024-01-01"
    assert bundled["examples"] == [{"on": "2024-02-29"}]
