"""Where the schemas to compare come from: the project, another checkout, a git revision,
or two single files. Every event schema is bundled with the generator's own bundler, so refs
are compared after resolution exactly as the runtime validates them."""

from __future__ import annotations

import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any

from qxgen._bundle import Bundler
from qxgen._loader import check_schema, load_schema_dir, load_schema_file, read_event_specs
from qxgen.config import (
    EventDeclaration,
    GeneratorConfig,
    event_declarations_in,
    find_project_dir,
    load_config,
)
from qxgen.errors import ConfigError, QxgenError
from qxgen.generator import subject_of

EventKey = tuple[str, int]


class GitRefError(QxgenError):
    """The git revision to compare with is not available (unknown ref, shallow clone)."""


@dataclass(frozen=True, slots=True)
class EventSchema:
    type: str
    version: int
    where: str  # the file, as messages show it
    schema: dict[str, Any]
    subject: str | None = None  # where it is published; None when not known (single files)


def schemas_in(
    directory: Path,
    display: str,
    *,
    allow_outside: bool = False,
    events: tuple[EventDeclaration, ...] = (),
    pyproject: str = "pyproject.toml",
) -> dict[EventKey, EventSchema]:
    """Every event schema under ``directory``, bundled (self-contained): the files marked with
    ``x-qx-event`` and those ``events`` (``[tool.qxgen.events]``) declares, as generate sees
    them."""
    files = load_schema_dir(directory, display)
    for file in files:
        check_schema(file)
    specs = read_event_specs(files, events, pyproject)
    bundler = Bundler(files, directory, display, allow_outside=allow_outside)
    names: dict[EventKey, str] = {}
    for i, spec in enumerate(sorted(specs, key=lambda s: (s.type, s.version, s.file.rel))):
        name = f"QxCompatEvent{i}"
        names[(spec.type, spec.version)] = name
        bundler.add_root(spec.file, name)
    bundle = bundler.bundle()
    where = {(s.type, s.version): s.file.display for s in specs}
    subjects = {(s.type, s.version): subject_of(s) for s in specs}
    return {
        key: EventSchema(key[0], key[1], where[key], bundle.standalone(name), subjects[key])
        for key, name in names.items()
    }


def project_schemas(config: GeneratorConfig) -> dict[EventKey, EventSchema]:
    return schemas_in(
        config.schemas,
        config.display(config.schemas),
        allow_outside=config.allow_external_refs,
        events=config.events,
        pyproject=config.display(config.project_dir / "pyproject.toml"),
    )


def checkout_schemas(path: Path) -> dict[EventKey, EventSchema]:
    """The schemas of another checkout: a project directory (its ``[tool.qxgen]`` says where
    the schemas are) or a schemas directory itself."""
    if not path.is_dir():
        raise ConfigError(f"--against-dir {path}: not a directory")
    project = find_project_dir(path)
    if project == path.resolve() and (path / "pyproject.toml").is_file():
        try:
            config = load_config(project)
        except ConfigError:
            config = None
        if config is not None and config.schemas.is_dir():
            return schemas_in(
                config.schemas,
                str(config.schemas),
                allow_outside=True,
                events=config.events,
                pyproject=str(project / "pyproject.toml"),
            )
    return schemas_in(path, str(path), allow_outside=True)


def file_schema(path: Path) -> dict[str, Any]:
    """One schema file bundled on its own (refs resolved relative to the file)."""
    if not path.is_file():
        raise ConfigError(f"{path}: no such schema file")
    root = path.resolve().parent
    file = load_schema_file(path.resolve(), root, str(path.parent))
    check_schema(file)
    bundler = Bundler([file], root, str(path.parent), allow_outside=True)
    bundler.add_root(file, "QxCompatRoot")
    return bundler.bundle().standalone("QxCompatRoot")


# -- git -------------------------------------------------------------------------------------


def _git(cwd: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False)
    except FileNotFoundError:
        raise GitRefError("git is not installed; use --against-dir with a checkout") from None


def _toplevel(cwd: Path) -> Path:
    done = _git(cwd, "rev-parse", "--show-toplevel")
    if done.returncode != 0:
        raise GitRefError(f"{cwd} is not inside a git repository; use --against-dir instead")
    return Path(done.stdout.decode().strip())


def resolve_ref(cwd: Path, ref: str) -> str:
    """The commit ``ref`` names, or a GitRefError telling what to do."""
    done = _git(cwd, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    if done.returncode != 0:
        shallow = _git(cwd, "rev-parse", "--is-shallow-repository").stdout.decode().strip()
        hint = (
            "this is a shallow clone: fetch more history (git fetch --deepen=50, or "
            "--unshallow; actions/checkout: fetch-depth: 0)"
            if shallow == "true"
            else "check the name (git log --oneline) or fetch it (git fetch origin <ref>)"
        )
        raise GitRefError(f"git ref {ref!r} not found: {hint}")
    return done.stdout.decode().strip()


def schemas_at(config: GeneratorConfig, ref: str) -> dict[EventKey, EventSchema]:
    """The project's schemas as they were at git ``ref`` (same schemas directory)."""
    top = _toplevel(config.project_dir)
    commit = resolve_ref(top, ref)
    try:
        rel = config.schemas.resolve().relative_to(top.resolve()).as_posix()
    except ValueError:
        raise GitRefError(f"{config.schemas} is not inside the git repository {top}") from None
    done = _git(top, "archive", "--format=tar", commit, "--", rel)
    if done.returncode != 0:
        return {}  # the schemas directory did not exist yet: every event is new
    with tempfile.TemporaryDirectory(prefix="qxgen-compat-") as tmp:
        with tarfile.open(fileobj=BytesIO(done.stdout)) as tar:
            tar.extractall(tmp, filter="data")
        directory = Path(tmp) / rel
        if not directory.is_dir():
            return {}
        display = f"{ref}:{config.display(config.schemas)}"
        pyproject = config.project_dir / "pyproject.toml"
        return schemas_in(
            directory,
            display,
            allow_outside=config.allow_external_refs,
            events=_declarations_at(top, commit, pyproject),
            pyproject=f"{ref}:{config.display(pyproject)}",
        )


def _declarations_at(top: Path, commit: str, pyproject: Path) -> tuple[EventDeclaration, ...]:
    """``[tool.qxgen.events]`` as the project's pyproject.toml had it at ``commit``."""
    try:
        rel = pyproject.resolve().relative_to(top.resolve()).as_posix()
    except ValueError:
        return ()
    done = _git(top, "show", f"{commit}:{rel}")
    if done.returncode != 0:
        return ()  # no pyproject.toml at that revision: markers only
    return event_declarations_in(done.stdout.decode("utf-8", "replace"), pyproject)


def revisions(config: GeneratorConfig, ref: str) -> list[str]:
    """Commits reachable from ``ref`` that changed the schemas directory, newest first."""
    top = _toplevel(config.project_dir)
    commit = resolve_ref(top, ref)
    rel = config.schemas.resolve().relative_to(top.resolve()).as_posix()
    done = _git(top, "log", "--format=%H", commit, "--", rel)
    if done.returncode != 0:
        raise GitRefError(f"git log failed: {done.stderr.decode().strip()}")
    return done.stdout.decode().split()
