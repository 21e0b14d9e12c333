"""The generated service a command works on: found through ``[tool.qxgen]``, imported from disk.

``publish``, ``dev`` and ``demo`` all need the generated package itself (its registry, bundled
schemas and worker) rather than the schemas: the registry is what the worker will accept, so
validating against it before sending means a published event cannot be a poison message.
The package is imported from the directory ``qxgen generate`` writes to, so a service that is
not installed in the environment works too.
"""

from __future__ import annotations

import importlib
import re
import sys
import traceback
from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from difflib import get_close_matches
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol, cast

from qx.events import EventRegistry, IntegrationEvent
from qx.worker import WorkerRuntime, WorkerSettings
from qxgen.config import GeneratorConfig, find_project_dir, load_config
from qxgen.errors import ConfigError, QxgenError

_VERSION_SUFFIX = re.compile(r"^(?P<type>.+)\.v(?P<version>[0-9]{1,9})$")


class ServiceError(QxgenError):
    """The generated package cannot be used as asked (not generated yet, unknown event...)."""


class BuildWorker(Protocol):
    """``<package>.worker.build``: the generated worker, ready to run in-process."""

    def __call__(self, settings: Any = None, /) -> AbstractAsyncContextManager[WorkerRuntime]: ...


@dataclass(frozen=True, slots=True)
class EventSchema:
    cls: type[IntegrationEvent]
    type: str
    version: int
    schema: Mapping[str, Any]

    @property
    def label(self) -> str:
        return f"{self.type} v{self.version}"

    def example(self) -> Any:
        examples = self.schema.get("examples")
        if not isinstance(examples, list) or not examples:
            raise ServiceError(
                f"the schema of {self.label} has no `examples`; add one to the schema and run "
                "`qxgen generate`, or pass --data / --file"
            )
        return examples[0]


@dataclass(frozen=True, slots=True)
class GeneratedService:
    config: GeneratorConfig
    registry_module: ModuleType

    @property
    def package(self) -> str:
        return self.config.package

    def registry(self) -> EventRegistry:
        registry = self.registry_module.build_registry()
        if not isinstance(registry, EventRegistry):
            raise ServiceError(
                f"{self.package}.integration.registry.build_registry() did not return an "
                "EventRegistry; regenerate the package with `qxgen generate`"
            )
        return registry

    def events(self) -> list[EventSchema]:
        """Every event with its bundled schema, in the registry's order."""
        module = self.registry_module
        found = []
        for cls, schema_file in module.EVENTS:
            schema = module.load_schema(schema_file)
            found.append(EventSchema(cls, cls.__qx_type__, cls.__qx_version__, schema))
        return found

    def event(self, name: str, version: int | None) -> EventSchema:
        """The event ``name`` (``orders.order.placed`` or ``orders.order.placed.v1``) names.

        An ambiguous type (several versions, none given) is an error here, unlike in the
        worker: a person typing a command can simply say which one they mean.
        """
        events = self.events()
        known = sorted({e.type for e in events})
        event_type = name
        if name not in known and (m := _VERSION_SUFFIX.match(name)) and m["type"] in known:
            event_type, suffix = m["type"], int(m["version"])
            if version is not None and version != suffix:
                raise ServiceError(f"{name} says v{suffix} but --version says {version}")
            version = suffix
        if event_type not in known:
            close = get_close_matches(event_type, known, n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            raise ServiceError(
                f"unknown event type {name!r} in {self.package}; {hint}known: {', '.join(known)}"
            )
        versions = sorted(e.version for e in events if e.type == event_type)
        if version is None:
            if len(versions) > 1:
                raise ServiceError(
                    f"{event_type} has versions {', '.join(map(str, versions))}; pass --version N "
                    f"or {event_type}.v{versions[-1]}"
                )
            version = versions[0]
        for candidate in events:
            if candidate.type == event_type and candidate.version == version:
                return candidate
        raise ServiceError(
            f"{event_type} has no version {version} in {self.package} "
            f"(known: {', '.join(map(str, versions))})"
        )

    def worker(self) -> tuple[BuildWorker, type[WorkerSettings]]:
        """``build`` and ``Settings`` of ``<package>.worker``."""
        module = _import(f"{self.package}.worker", self.config)
        build, settings = getattr(module, "build", None), getattr(module, "Settings", None)
        if not callable(build) or not (
            isinstance(settings, type) and issubclass(settings, WorkerSettings)
        ):
            raise ServiceError(
                f"{self.package}.worker has no build()/Settings; it predates `qxgen dev`: "
                "run `qxgen generate`"
            )
        return cast(BuildWorker, build), settings


def load_service(
    project: Path | None = None, *, package: str | None = None, out: Path | None = None
) -> GeneratedService:
    """The service of ``project`` (default: the nearest ``[tool.qxgen]`` above the cwd)."""
    config = load_config(project or find_project_dir(Path.cwd()), package=package, out=out)
    module = _import(f"{config.package}.integration.registry", config)
    if not hasattr(module, "EVENTS") or not hasattr(module, "load_schema"):
        raise ConfigError(
            f"{config.package}.integration.registry is not a qxgen registry (no EVENTS); "
            "run `qxgen generate`"
        )
    return GeneratedService(config, module)


def _import(name: str, config: GeneratorConfig) -> ModuleType:
    where = str(config.out)
    if where not in sys.path:
        sys.path.insert(0, where)
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and (name == exc.name or name.startswith(exc.name + ".")):
            raise ServiceError(
                f"cannot import {name} from {config.display(config.out)} ({exc}); run "
                "`qxgen generate` there first, or pass --project / --package"
            ) from None
        raise ServiceError(_user_code_error(exc, config)) from None
    except Exception as exc:  # the user's code failed while being imported: say where
        raise ServiceError(_user_code_error(exc, config)) from None


def _user_code_error(exc: BaseException, config: GeneratorConfig) -> str:
    """``import error in shop/handlers/x.py line 3: NameError: ...``: the innermost frame in
    the project (or the file a SyntaxError names), not a traceback through importlib."""
    what = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, SyntaxError) and exc.filename:
        what = f"{type(exc).__name__}: {exc.msg}"
        return f"import error in {_shown(exc.filename, config)} line {exc.lineno}: {what}"
    project = str(config.project_dir)
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.startswith(project)]
    if not frames:
        return f"import error in {config.package}: {what}"
    last = frames[-1]
    return f"import error in {_shown(last.filename, config)} line {last.lineno}: {what}"


def _shown(filename: str, config: GeneratorConfig) -> str:
    return config.display(Path(filename))
