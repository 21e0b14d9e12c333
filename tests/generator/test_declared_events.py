"""``[tool.qxgen.events]``: events of files that stay byte-identical, and its mistakes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qxgen import ConfigError, SchemaError, load_config, plan


def _project(tmp_path: Path, events_toml: str, files: dict[str, object]) -> Path:
    (tmp_path / "pyproject.toml").write_text(
        f'[tool.qxgen]\npackage = "svc"\n\n[tool.qxgen.events]\n{events_toml}'
    )
    for rel, body in files.items():
        path = tmp_path / "schemas" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(body))
    return tmp_path


OBJECT = {"type": "object", "properties": {"id": {"type": "string"}}}


def test_globs_first_match_placeholders_and_exclusion(tmp_path: Path) -> None:
    project = _project(
        tmp_path,
        '"common/*" = false\n'
        '"*/event.json" = { type = "gh.{dir}", version = 2, subject = "x.{dir}" }\n'
        '"*/*.json" = { type = "gh.{dir}.{stem}", version = 1, stream = "S" }\n',
        {
            "common/user.json": OBJECT,
            "issues/event.json": OBJECT,
            "issues/opened.schema.json": OBJECT,
            "pull_request/closed.json": OBJECT,
        },
    )
    manifest = json.loads(
        next(
            f for f in plan(load_config(project)).files if f.path.endswith("manifest.json")
        ).content
    )
    assert manifest["names"] == {
        "gh.issues.opened:1": "IssuesOpenedV1",
        "gh.issues:2": "GhIssuesV2",
        "gh.pull_request.closed:1": "PullRequestClosedV1",
    }
    assert (tmp_path / "schemas" / "issues" / "event.json").read_text() == json.dumps(OBJECT)


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('"a.json" = 3\n', "must be a table {type, version, subject?, stream?} or false"),
        ('"a.json" = { type = "a.b" }\n', "version must be an integer >= 1"),
        ('"a.json" = { type = "a.b", version = 1, colour = "red" }\n', "unknown key(s): colour"),
        ('"a.json" = { version = 1 }\n', "type must be a dotted name"),
    ],
)
def test_bad_declarations_are_config_errors(tmp_path: Path, toml: str, message: str) -> None:
    project = _project(tmp_path, toml, {"a.json": OBJECT})
    with pytest.raises(ConfigError, match=r"tool\.qxgen\.events") as error:
        load_config(project)
    assert message in str(error.value)


def test_marked_and_declared_is_refused(tmp_path: Path) -> None:
    marked = {**OBJECT, "x-qx-event": {"type": "a.b", "version": 1}}
    project = _project(tmp_path, '"a.json" = { type = "a.b", version = 1 }\n', {"a.json": marked})
    with pytest.raises(SchemaError, match=r"also declared by 'a\.json'"):
        plan(load_config(project))


def test_a_declared_type_is_checked_like_a_marker(tmp_path: Path) -> None:
    project = _project(tmp_path, '"a.json" = { type = "a b", version = 1 }\n', {"a.json": OBJECT})
    with pytest.raises(SchemaError, match="must be a dotted name"):
        plan(load_config(project))


def test_a_configured_ref_root_resolves_root_relative_refs(tmp_path: Path) -> None:
    """A collection vendored one level down: its refs are written against ``vendor/``."""
    (tmp_path / "pyproject.toml").write_text(
        '[tool.qxgen]\npackage = "svc"\nref_root = "schemas/vendor"\n\n'
        '[tool.qxgen.events]\n"vendor/events/*.json" = { type = "v.{stem}", version = 1 }\n'
    )
    files = {
        "vendor/common/user.json": OBJECT,
        "vendor/events/created.json": {
            "type": "object",
            "properties": {"user": {"$ref": "common/user.json"}},
        },
    }
    for rel, body in files.items():
        path = tmp_path / "schemas" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(body))
    result = plan(load_config(tmp_path))
    schema = next(f for f in result.files if f.path.endswith("v.created.v1.json"))
    assert json.loads(schema.content)["$defs"]["User"] == OBJECT
