"""``qxgen compat`` as CI runs it (exit codes, text and JSON, git refs) and the guard in
``qxgen generate``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from qxgen.cli import cli

PLACED = {
    "x-qx-event": {"type": "orders.order.placed", "version": 1},
    "type": "object",
    "properties": {"total": {"$ref": "shared/money.json"}, "note": {"type": "string"}},
    "required": ["total"],
}
MONEY = {"type": "number", "minimum": 0, "maximum": 1000}


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def write(path: Path, doc: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2))


def git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "pyproject.toml").write_text('[tool.qxgen]\nschemas = "schemas"\npackage = "svc"\n')
    write(tmp_path / "schemas" / "placed.json", PLACED)
    write(tmp_path / "schemas" / "shared" / "money.json", MONEY)
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "v1")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_files_compatible_exit_0(tmp_path: Path) -> None:
    write(tmp_path / "old.json", {"type": "integer", "maximum": 100})
    write(tmp_path / "new.json", {"type": "integer", "maximum": 1000})
    result = invoke(
        "compat", "--old", str(tmp_path / "old.json"), "--new", str(tmp_path / "new.json")
    )
    assert result.exit_code == 0, result.output
    assert "is compatible" in result.output
    assert "MAXIMUM_INCREASED" not in result.output  # compatible changes only with --all
    shown = invoke(
        "compat", "--all", "--old", str(tmp_path / "old.json"), "--new", str(tmp_path / "new.json")
    )
    assert "#/maximum: MAXIMUM_INCREASED 100 → 1000" in shown.output


def test_files_breaking_exit_1_names_code_pointer_and_effect(tmp_path: Path) -> None:
    write(
        tmp_path / "old.json",
        {"type": "object", "properties": {"total": {"type": "number", "maximum": 1000}}},
    )
    write(
        tmp_path / "new.json",
        {"type": "object", "properties": {"total": {"type": "number", "maximum": 100}}},
    )
    result = invoke(
        "compat", "--old", str(tmp_path / "old.json"), "--new", str(tmp_path / "new.json")
    )
    assert result.exit_code == 1
    assert (
        "#/properties/total/maximum: MAXIMUM_DECREASED 1000 → 100: old messages with total in "
        "(100, 1000] are rejected"
    ) in result.output
    forward = invoke(
        "compat",
        "--mode",
        "forward",
        "--old",
        str(tmp_path / "old.json"),
        "--new",
        str(tmp_path / "new.json"),
    )
    assert forward.exit_code == 0


def test_files_refs_resolved_relative_to_each_file(tmp_path: Path) -> None:
    write(
        tmp_path / "a" / "event.json",
        {"type": "object", "properties": {"m": {"$ref": "money.json"}}},
    )
    write(tmp_path / "a" / "money.json", {"type": "integer"})
    write(
        tmp_path / "b" / "event.json",
        {"type": "object", "properties": {"m": {"$ref": "defs/money.json"}}},
    )
    write(tmp_path / "b" / "defs" / "money.json", {"type": "number"})
    result = invoke(
        "compat",
        "--format",
        "json",
        "--all",
        "--old",
        str(tmp_path / "a" / "event.json"),
        "--new",
        str(tmp_path / "b" / "event.json"),
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    change = doc["events"][0]["changes"][0]
    assert change["code"] == "TYPE_WIDENED"
    assert change["pointer"] == "#/properties/m/type"
    assert change["breaking"] is False
    assert change["breaks"] == ["forward"]


def test_bad_input_exit_2(tmp_path: Path) -> None:
    (tmp_path / "broken.json").write_text("{nope")
    write(tmp_path / "ok.json", {"type": "string"})
    result = invoke(
        "compat", "--old", str(tmp_path / "broken.json"), "--new", str(tmp_path / "ok.json")
    )
    assert result.exit_code == 2
    assert "invalid JSON" in result.output
    assert invoke("compat", "--old", str(tmp_path / "ok.json")).exit_code == 2
    assert (
        invoke(
            "compat", "--old", str(tmp_path / "missing.json"), "--new", str(tmp_path / "ok.json")
        ).exit_code
        == 2
    )


def test_strict_fails_on_undecided(tmp_path: Path) -> None:
    write(tmp_path / "old.json", {"type": "string"})
    write(tmp_path / "new.json", {"type": "string", "not": {"const": "x"}})
    args = ["--old", str(tmp_path / "old.json"), "--new", str(tmp_path / "new.json")]
    lenient = invoke("compat", *args)
    assert lenient.exit_code == 0
    strict = invoke("compat", "--strict", *args)
    assert strict.exit_code == 1
    assert "NOT_UNDECIDED" in strict.output


def test_against_git_ref(project: Path) -> None:
    assert invoke("compat", "--against", "HEAD").exit_code == 0
    write(project / "schemas" / "shared" / "money.json", {**MONEY, "maximum": 100})
    result = invoke("compat", "--against", "HEAD")
    assert result.exit_code == 1
    assert "orders.order.placed v1 (schemas/placed.json) against HEAD:" in result.output
    assert "#/properties/total/maximum: MAXIMUM_DECREASED 1000 → 100" in result.output
    assert "not backward compatible" in result.output
    doc = json.loads(invoke("compat", "--against", "HEAD", "--format", "json").output)
    assert doc["compatible"] is False
    assert doc["events"][0]["changes"][0]["code"] == "MAXIMUM_DECREASED"


def test_transitive_checks_every_earlier_revision(project: Path) -> None:
    # v1 allows up to 1000; revision 2 widens to 5000 (compatible with v1); now 2000 is
    # compatible with revision 1 but not with revision 2.
    write(project / "schemas" / "shared" / "money.json", {**MONEY, "maximum": 5000})
    git(project, "commit", "-qam", "widen")
    write(project / "schemas" / "shared" / "money.json", {**MONEY, "maximum": 2000})
    assert invoke("compat", "--against", "HEAD~1").exit_code == 0
    result = invoke("compat", "--transitive")
    assert result.exit_code == 1
    assert "5000 → 2000" in result.output


def test_missing_ref_is_a_clear_error(project: Path) -> None:
    result = invoke("compat", "--against", "HEAD~5")
    assert result.exit_code == 2
    assert "git ref 'HEAD~5' not found" in result.output


def test_shallow_clone_says_so(project: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    git(project, "commit", "-q", "--allow-empty", "-m", "two")
    clone = tmp_path_factory.mktemp("shallow") / "c"
    subprocess.run(
        ["git", "clone", "-q", "--depth", "1", project.as_uri(), str(clone)],
        check=True,
        capture_output=True,
    )
    result = invoke("compat", "-C", str(clone), "--against", "HEAD~1")
    assert result.exit_code == 2
    assert "shallow clone" in result.output


def test_against_dir_and_removed_event(
    project: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    other = tmp_path_factory.mktemp("other")
    write(other / "placed.json", PLACED)
    write(other / "shared" / "money.json", MONEY)
    write(
        other / "gone.json",
        {"x-qx-event": {"type": "orders.order.gone", "version": 1}, "type": "object"},
    )
    result = invoke("compat", "--against-dir", str(other))
    assert result.exit_code == 1
    assert "EVENT_REMOVED" in result.output
    assert "orders.order.gone v1" in result.output


def test_a_moved_subject_breaks_every_mode_even_with_the_same_schema(project: Path) -> None:
    moved = {**PLACED, "x-qx-event": {**PLACED["x-qx-event"], "subject": "orders.placed"}}
    write(project / "schemas" / "placed.json", moved)
    for mode in ("backward", "forward", "full"):
        result = invoke("compat", "--against", "HEAD", "--mode", mode)
        assert result.exit_code == 1, result.output
        assert (
            "#/x-qx-event/subject: SUBJECT_CHANGED orders.order.placed.v1 → orders.placed"
            in result.output
        )
    doc = json.loads(invoke("compat", "--against", "HEAD", "--format", "json").output)
    assert [c["code"] for c in doc["events"][0]["changes"]] == ["SUBJECT_CHANGED"]
    # The same subject spelled out is no change at all.
    same = {**PLACED, "x-qx-event": {**PLACED["x-qx-event"], "subject": "orders.order.placed.v1"}}
    write(project / "schemas" / "placed.json", same)
    assert invoke("compat", "--against", "HEAD").exit_code == 0


DECLARED = {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]}
DECLARING = (
    '[tool.qxgen]\nschemas = "schemas"\npackage = "svc"\n\n[tool.qxgen.events]\n'
    '"shipped.json" = {type = "orders.order.shipped", version = 1}\n'
)


def test_events_declared_in_pyproject_are_compared_too(
    project: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Not only ``x-qx-event`` markers: a schema collection written by others declares its
    events in ``[tool.qxgen.events]``, and a breaking edit of one must fail the gate."""
    (project / "pyproject.toml").write_text(DECLARING)
    write(project / "schemas" / "shipped.json", DECLARED)
    git(project, "add", "-A")
    git(project, "commit", "-qm", "declared")
    old = tmp_path_factory.mktemp("old")
    git(project, "worktree", "add", "-q", str(old / "checkout"), "HEAD")
    write(
        project / "schemas" / "shipped.json",
        {**DECLARED, "properties": {"id": {"type": "integer"}}},
    )
    for against in (["--against", "HEAD"], ["--against-dir", str(old / "checkout")]):
        result = invoke("compat", *against)
        assert result.exit_code == 1, result.output
        assert "orders.order.shipped v1 (schemas/shipped.json)" in result.output
        assert "TYPE_CHANGED" in result.output or "TYPE_NARROWED" in result.output
    # The subject given in the declaration is the event's subject: moving it breaks.
    write(project / "schemas" / "shipped.json", DECLARED)
    (project / "pyproject.toml").write_text(
        DECLARING.replace("version = 1}", 'version = 1, subject = "orders.shipped"}')
    )
    result = invoke("compat", "--against", "HEAD")
    assert result.exit_code == 1, result.output
    assert "SUBJECT_CHANGED orders.order.shipped.v1 → orders.shipped" in result.output


def test_generate_refuses_breaking_rewrite(project: Path) -> None:
    first = invoke("generate")
    assert first.exit_code == 0, first.output
    write(project / "schemas" / "shared" / "money.json", {**MONEY, "maximum": 100})
    refused = invoke("generate")
    assert refused.exit_code == 2
    assert "orders.order.placed v1 is not backward compatible" in refused.output
    assert "MAXIMUM_DECREASED" in refused.output
    assert '"version": 2' in refused.output
    assert (
        "1000"
        in (project / "svc/integration/event_schemas/orders.order.placed.v1.json").read_text()
    )
    forced = invoke("generate", "--allow-breaking")
    assert forced.exit_code == 0, forced.output
    assert (
        "1000"
        not in (project / "svc/integration/event_schemas/orders.order.placed.v1.json").read_text()
    )


def test_generate_accepts_compatible_rewrite(project: Path) -> None:
    assert invoke("generate").exit_code == 0
    write(project / "schemas" / "shared" / "money.json", {**MONEY, "maximum": 5000})
    result = invoke("generate")
    assert result.exit_code == 0, result.output


def test_the_installed_command_in_a_ci_shell(project: Path) -> None:
    """As CI runs it: the console script, 80 columns, exit codes and one line per change."""
    qxgen = Path(sys.executable).parent / "qxgen"
    env = {**os.environ, "COLUMNS": "80", "NO_COLOR": "1"}

    def sh(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(qxgen), *args], cwd=project, env=env, capture_output=True, text=True, check=False
        )

    assert sh("compat", "--against", "HEAD").returncode == 0
    write(project / "schemas" / "shared" / "money.json", {**MONEY, "maximum": 100})
    done = sh("compat", "--against", "HEAD")
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert lines[1].startswith("  breaking   #/properties/total/maximum: MAXIMUM_DECREASED")
    assert lines[1].endswith("old messages with total in (100, 1000] are rejected")
    missing = sh("compat", "--against", "no-such-branch")
    assert missing.returncode == 2
    assert missing.stdout == ""
    assert "git ref 'no-such-branch' not found" in missing.stderr
    assert "Traceback" not in missing.stderr
