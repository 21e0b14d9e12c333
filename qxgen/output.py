"""Owned and scaffold files: writing them, deleting stale ones, and checking they are current.

* Owned files are rewritten on every run; the manifest lists them, so an owned file that is no
  longer produced (an event was removed) is deleted on the next run.
* Scaffold files (handler stubs, providers) are created once and never touched again. One the
  previous manifest lists and the new output no longer references (its event was removed or
  renamed) is kept, never deleted, but reported as orphaned: ``generate`` warns, ``--check``
  fails.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MANIFEST_NAME = "qxgen-manifest.json"


@dataclass(frozen=True, slots=True)
class OutputFile:
    """``path`` is POSIX and relative to the output directory."""

    path: str
    content: str
    owned: bool = True


@dataclass(frozen=True, slots=True)
class Plan:
    files: list[OutputFile]
    manifest: str

    @property
    def owned(self) -> list[OutputFile]:
        return [f for f in self.files if f.owned]

    @property
    def scaffold(self) -> list[OutputFile]:
        return [f for f in self.files if not f.owned]


@dataclass(slots=True)
class WriteReport:
    wrote: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    orphaned: list[str] = field(default_factory=list)


@dataclass(slots=True)
class CheckResult:
    """What is out of date; ``ok`` when nothing is."""

    stale: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    missing_scaffold: list[str] = field(default_factory=list)
    to_delete: list[str] = field(default_factory=list)
    orphaned: list[str] = field(default_factory=list)
    diff: str = ""

    @property
    def ok(self) -> bool:
        return not (
            self.stale or self.missing or self.missing_scaffold or self.to_delete or self.orphaned
        )


def write(plan: Plan, out: Path) -> WriteReport:
    report = WriteReport()
    previous = _previously_owned(out, plan.manifest)
    report.orphaned = _orphaned_scaffold(plan, out)
    for file in plan.files:
        target = out / file.path
        if not file.owned:
            if target.exists():
                report.kept.append(file.path)
                continue
            _write_text(target, file.content)
            report.created.append(file.path)
            continue
        if target.is_file() and target.read_text(encoding="utf-8") == file.content:
            report.unchanged.append(file.path)
            continue
        _write_text(target, file.content)
        report.wrote.append(file.path)
    produced = {f.path for f in plan.files}
    for path in sorted(previous - produced):
        target = out / path
        if target.is_file():
            target.unlink()
            report.deleted.append(path)
            _remove_empty_parents(target.parent, out)
    return report


def check(plan: Plan, out: Path) -> CheckResult:
    result = CheckResult()
    diffs: list[str] = []
    for file in plan.files:
        target = out / file.path
        if not file.owned:
            if not target.exists():
                result.missing_scaffold.append(file.path)
            continue
        if not target.is_file():
            result.missing.append(file.path)
            continue
        current = target.read_text(encoding="utf-8")
        if current != file.content:
            result.stale.append(file.path)
            diffs.extend(
                difflib.unified_diff(
                    current.splitlines(keepends=True),
                    file.content.splitlines(keepends=True),
                    fromfile=f"a/{file.path} (committed)",
                    tofile=f"b/{file.path} (generated)",
                )
            )
    produced = {f.path for f in plan.files}
    result.to_delete = sorted(p for p in _previously_owned(out, plan.manifest) - produced)
    result.to_delete = [p for p in result.to_delete if (out / p).is_file()]
    result.orphaned = _orphaned_scaffold(plan, out)
    result.diff = "".join(d if d.endswith("\n") else d + "\n" for d in diffs)
    return result


def read_manifest(path: Path) -> dict[str, Any]:
    """The manifest at ``path``, or ``{}`` when there is none or it is not a JSON object."""
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return manifest if isinstance(manifest, dict) else {}


def _orphaned_scaffold(plan: Plan, out: Path) -> list[str]:
    """Scaffold files of the previous run that still exist but the new output no longer
    references (a renamed or removed event's handler, possibly implemented)."""
    listed = read_manifest(out / plan.manifest).get("scaffold", [])
    if not isinstance(listed, list):
        return []
    produced = {f.path for f in plan.files}
    root = out.resolve()
    return sorted(
        {
            p
            for p in listed
            if isinstance(p, str)
            and p not in produced
            and (root / p).resolve().is_relative_to(root)
            and (out / p).is_file()
        }
    )


def _previously_owned(out: Path, manifest: str) -> set[str]:
    owned = read_manifest(out / manifest).get("owned", {})
    if not isinstance(owned, dict | list):
        return set()
    root = out.resolve()
    # Never delete outside the output directory, whatever the manifest says.
    return {p for p in owned if isinstance(p, str) and (root / p).resolve().is_relative_to(root)}


def _write_text(target: Path, content: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(content, encoding="utf-8", newline="\n")


def _remove_empty_parents(directory: Path, stop: Path) -> None:
    stop = stop.resolve()
    directory = directory.resolve()
    while directory != stop and directory.is_relative_to(stop) and not any(directory.iterdir()):
        directory.rmdir()
        directory = directory.parent
