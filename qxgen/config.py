"""``[tool.qxgen]`` in ``pyproject.toml``, overridable from the command line.

```toml
[tool.qxgen]
schemas = "schemas"            # directory of JSON Schema files (relative to this file)
package = "shop_service"       # the Python package receiving the generated code
out = "."                      # directory holding the package (e.g. "src")
service = "shop-service"       # service name; the durable consumer defaults to shop_service
stream = "SHOP"                # the stream the worker consumes
durable = "shop_service"
templates = "qxgen-templates"  # optional: override templates by file name
allow_remote_refs = false      # http(s) $refs are refused unless true
allow_external_refs = false    # $refs leaving the schemas directory are refused unless true
ref_root = "schemas"           # optional: where root-relative $refs resolve (default: schemas)

# Events of a vendored collection, declared here so its files stay byte-identical
# (instead of an "x-qx-event" marker). Keys are paths or globs relative to `schemas`
# (`*` also crosses "/"); {stem} is the file name without suffixes, {dir} its folder
# with "/" as ".". A file takes the first entry it matches; `false` means "not an event".
[tool.qxgen.events]
"check_run/common/*" = false
"check_run/*.schema.json" = { type = "github.{dir}.{stem}", version = 1 }
"orders/placed.json" = { type = "orders.order.placed", version = 2, subject = "orders.placed" }

[tool.qxgen.worker]            # defaults of the generated worker, each overridable by QX_* env
concurrency = 8                # any qx.worker.WorkerSettings field, checked by its own rules
max_deliver = 5
```
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from qxgen._naming import is_dotted_identifier
from qxgen._worker_defaults import read_worker_defaults
from qxgen.errors import ConfigError

PYPROJECT = "pyproject.toml"

_KEYS = {
    "schemas",
    "package",
    "out",
    "service",
    "stream",
    "durable",
    "templates",
    "allow_remote_refs",
    "allow_external_refs",
    "worker",
    "events",
    "ref_root",
}
_EVENT_DECLARATION_KEYS = {"type", "version", "subject", "stream"}


@dataclass(frozen=True, slots=True)
class EventDeclaration:
    """One ``[tool.qxgen.events]`` entry: files matching ``pattern`` are events.

    ``type`` and ``subject`` may use ``{stem}`` and ``{dir}``; the loader fills them in per file
    and checks the result like an ``x-qx-event`` marker.
    """

    pattern: str
    type: str
    version: int
    subject: str | None = None
    stream: str | None = None

    @property
    def excludes(self) -> bool:
        """``"common/*" = false``: matching files are shared definitions, not events."""
        return self.version == 0


@dataclass(frozen=True, slots=True)
class GeneratorConfig:
    """Everything one generation needs. Paths are absolute; ``project_dir`` anchors display."""

    project_dir: Path
    schemas: Path
    package: str
    out: Path
    service: str
    stream: str
    durable: str
    templates: Path | None = None
    allow_remote_refs: bool = False
    allow_external_refs: bool = False
    worker: dict[str, Any] = field(default_factory=dict)
    events: tuple[EventDeclaration, ...] = ()
    ref_root: Path | None = None

    @property
    def package_dir(self) -> Path:
        return self.out.joinpath(*self.package.split("."))

    def display(self, path: Path) -> str:
        """``path`` as shown in messages and headers: relative to the project, POSIX style."""
        return _relative(path, self.project_dir)

    def with_overrides(self, **overrides: Any) -> GeneratorConfig:
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})


def find_project_dir(start: Path) -> Path:
    """The nearest directory (``start`` or above) whose pyproject.toml has ``[tool.qxgen]``."""
    start = start.resolve()
    for directory in (start, *start.parents):
        candidate = directory / PYPROJECT
        if candidate.is_file() and "qxgen" in _read_pyproject(candidate).get("tool", {}):
            return directory
    return start


def load_config(
    project_dir: Path,
    *,
    schemas: Path | None = None,
    package: str | None = None,
    out: Path | None = None,
    **overrides: Any,
) -> GeneratorConfig:
    """Read ``[tool.qxgen]`` from ``project_dir/pyproject.toml`` and apply overrides.

    Relative paths in the file are relative to the project; relative paths given as overrides
    (command-line flags) are relative to the current directory.
    """
    project_dir = project_dir.resolve()
    pyproject = project_dir / PYPROJECT
    table: dict[str, Any] = {}
    if pyproject.is_file():
        table = {
            k.replace("-", "_"): v
            for k, v in _read_pyproject(pyproject).get("tool", {}).get("qxgen", {}).items()
        }
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise ConfigError(f"{pyproject}: unknown [tool.qxgen] key(s): {', '.join(unknown)}")

    def from_file(key: str, default: str | None) -> Path | None:
        value = table.get(key, default)
        if value is None:
            return None
        if not isinstance(value, str):
            raise ConfigError(f"{pyproject}: [tool.qxgen].{key} must be a string path")
        return (project_dir / value).resolve()

    schemas_dir = schemas.resolve() if schemas else from_file("schemas", "schemas")
    out_dir = out.resolve() if out else from_file("out", ".")
    templates = overrides.pop("templates", None)
    templates_dir = Path(templates).resolve() if templates else from_file("templates", None)
    package_name = package or table.get("package")
    if not package_name:
        raise ConfigError(
            "no output package: set [tool.qxgen].package in pyproject.toml or pass --package"
        )
    if not isinstance(package_name, str) or not is_dotted_identifier(package_name):
        raise ConfigError(f"package {package_name!r} is not a valid dotted Python module name")
    service = overrides.pop("service", None) or table.get("service") or package_name
    durable = overrides.pop("durable", None) or table.get("durable") or _token(service)
    stream = overrides.pop("stream", None) or table.get("stream") or _token(service).upper()
    worker = read_worker_defaults(table.get("worker", {}), str(pyproject))
    flags = {
        key: bool(overrides.pop(key, False) or table.get(key, False))
        for key in ("allow_remote_refs", "allow_external_refs")
    }
    events = _event_declarations(table.get("events", {}), pyproject)
    ref_root = from_file("ref_root", None)
    if overrides:
        raise ConfigError(f"unknown option(s): {', '.join(sorted(overrides))}")
    assert schemas_dir is not None
    assert out_dir is not None
    return GeneratorConfig(
        project_dir=project_dir,
        schemas=schemas_dir,
        package=package_name,
        out=out_dir,
        service=str(service),
        stream=str(stream),
        durable=str(durable),
        templates=templates_dir,
        worker=worker,
        events=events,
        ref_root=ref_root,
        **flags,
    )


def event_declarations_in(text: str, pyproject: Path) -> tuple[EventDeclaration, ...]:
    """The ``[tool.qxgen.events]`` of a pyproject.toml's text (``qxgen compat`` reads it as it
    was at a git revision); a file that does not parse declares nothing."""
    try:
        table = tomllib.loads(text).get("tool", {}).get("qxgen", {}).get("events", {})
    except tomllib.TOMLDecodeError:
        return ()
    return _event_declarations(table, pyproject)


def _event_declarations(table: Any, pyproject: Path) -> tuple[EventDeclaration, ...]:
    where = f"{pyproject}: [tool.qxgen.events]"
    if not isinstance(table, dict):
        raise ConfigError(f'{where} must be a table of "file or glob" = {{type, version}}')
    out: list[EventDeclaration] = []
    for pattern, entry in table.items():
        at = f"{where}.{pattern!r}"
        if entry is False:
            out.append(EventDeclaration(str(pattern), "", 0))
            continue
        if not isinstance(entry, dict):
            raise ConfigError(f"{at} must be a table {{type, version, subject?, stream?}} or false")
        unknown = sorted(set(entry) - _EVENT_DECLARATION_KEYS)
        if unknown:
            raise ConfigError(f"{at}: unknown key(s): {', '.join(unknown)}")
        event_type, version = entry.get("type"), entry.get("version")
        if not isinstance(event_type, str) or not event_type:
            raise ConfigError(f"{at}: type must be a dotted name like 'orders.order.placed'")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise ConfigError(f"{at}: version must be an integer >= 1")
        subject, stream = entry.get("subject"), entry.get("stream")
        if subject is not None and not isinstance(subject, str):
            raise ConfigError(f"{at}: subject must be a string")
        if stream is not None and not isinstance(stream, str):
            raise ConfigError(f"{at}: stream must be a string")
        out.append(EventDeclaration(str(pattern), event_type, version, subject, stream))
    return tuple(out)


def _token(name: str) -> str:
    """A stream/consumer-safe token from a service name."""
    token = "".join(c if c.isascii() and (c.isalnum() or c in "_-") else "_" for c in name)
    return token.replace("-", "_") or "qx_service"


def _read_pyproject(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None


def _relative(path: Path, base: Path) -> str:
    path, base = path.resolve(), base.resolve()
    try:
        return path.relative_to(base).as_posix() or "."
    except ValueError:
        pass
    # Walk up from base (../../schemas) when the path is a sibling; absolute as a last resort.
    for ups, parent in enumerate(base.parents, start=1):
        if path.is_relative_to(parent):
            rest = path.relative_to(parent).as_posix()
            return "/".join([".."] * ups + ([rest] if rest != "." else []))
    return path.as_posix()
