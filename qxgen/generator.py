"""From a config to the full set of output files (nothing is written here; see ``output``)."""

from __future__ import annotations

import ast
import hashlib
import json
import keyword
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import jsonschema_rs

from qxgen import _render
from qxgen._bundle import Bundle, Bundler, dumps
from qxgen._loader import EventSpec, SchemaFile, check_schema, load_schema_dir, read_event_specs
from qxgen._models import EventClass, render_events
from qxgen._naming import RESERVED_CLASS_NAMES, pascal_case, snake_case
from qxgen._upcasters import upcaster_scaffold, upcaster_views
from qxgen._version import VERSION
from qxgen._worker_defaults import default_lines
from qxgen.config import GeneratorConfig
from qxgen.errors import SchemaError
from qxgen.output import MANIFEST_NAME, OutputFile, Plan, read_manifest


@dataclass(frozen=True, slots=True)
class EventView:
    """What templates know about one event."""

    name: str
    type: str
    version: int
    subject: str
    handler: str
    handler_module: str
    schema_file: str
    not_implemented: tuple[str, str]

    @property
    def import_key(self) -> str:
        return self.name


@dataclass(frozen=True)
class ResolvedEvents:
    """The project's events with their class names and their schemas bundled: what ``plan``
    generates code from and ``qxgen asyncapi`` documents, so both see the same events."""

    files: list[SchemaFile]
    specs: list[EventSpec]
    names: dict[tuple[str, int], str]
    bundler: Bundler  # its external files and recorded definition names go to the manifest
    bundle: Bundle
    previous: dict[str, Any]  # the committed manifest (recorded names)


def resolve_events(
    config: GeneratorConfig, progress: Callable[[str], None] | None = None
) -> ResolvedEvents:
    """Load and check the schemas, find the events (markers and ``[tool.qxgen.events]``), name
    them (keeping committed names) and bundle their ``$ref``s."""
    step = progress or (lambda _: None)
    schemas_display = config.display(config.schemas)
    step(f"loading schemas from {schemas_display}")
    files = load_schema_dir(config.schemas, schemas_display)
    for index, file in enumerate(files, start=1):
        step(f"checking schema {index}/{len(files)}: {file.display}")
        check_schema(file)
    pyproject = config.display(config.project_dir / "pyproject.toml")
    specs = read_event_specs(files, config.events, pyproject)
    if not specs:
        raise SchemaError(
            schemas_display,
            "",
            'no event schemas: mark at least one with "x-qx-event" or declare it in '
            "[tool.qxgen.events]",
        )
    specs.sort(key=lambda s: (s.type, s.version, s.file.rel))
    _check_unique(specs)
    integration = PurePosixPath(*config.package.split(".")) / "integration"
    names = _event_class_names(specs, _previous_names(config.out, integration))
    previous = read_manifest(config.out / str(integration / MANIFEST_NAME))

    bundler = Bundler(
        files,
        config.schemas,
        schemas_display,
        allow_remote=config.allow_remote_refs,
        allow_outside=config.allow_external_refs,
        ref_root=config.ref_root,
        previous_names=_recorded(previous, "definitions"),
    )
    step(f"resolving $refs of {len(specs)} events")
    for spec in specs:
        bundler.add_root(spec.file, names[_key(spec)])
    bundle = bundler.bundle()

    return ResolvedEvents(files, specs, names, bundler, bundle, previous)


def plan(config: GeneratorConfig, progress: Callable[[str], None] | None = None) -> Plan:
    """Everything ``qxgen generate`` would write for ``config``.

    ``progress`` is told each stage (the CLI shows it as a spinner on large schema sets).
    """
    step = progress or (lambda _: None)
    resolved = resolve_events(config, step)
    files, specs, names = resolved.files, resolved.specs, resolved.names
    bundler, bundle, previous = resolved.bundler, resolved.bundle, resolved.previous
    schemas_display = config.display(config.schemas)
    package_rel = PurePosixPath(*config.package.split("."))
    integration = package_rel / "integration"

    events = [EventClass(names[_key(s)], s.type, s.version, subject_of(s), s.stream) for s in specs]
    views = [_view(s, names[_key(s)], config, package_rel) for s in specs]
    env = _render.environment(config.templates)
    header = _render.render(env, "header.py.jinja", version=VERSION, source=schemas_display)
    context: dict[str, object] = {
        "header": header.rstrip("\n"),
        "service": config.service,
        "package": config.package,
        "integration_package": f"{config.package}.integration",
        "stream": config.stream,
        "durable": config.durable,
        "events": views,
        "subjects": sorted({e.subject for e in events}),
        "worker_defaults": default_lines(config.worker),
        "upcasters": upcaster_views(views),  # a new version of a type: an upcaster stub
    }

    step(f"generating models for {len(specs)} events (datamodel-code-generator)")
    events_source, models = render_events(bundle, events, header, _recorded(previous, "models"))
    owned: list[OutputFile] = [
        OutputFile(
            str(integration / "__init__.py"), _py(env, "integration_init.py.jinja", context)
        ),
        OutputFile(str(integration / "events.py"), events_source),
        OutputFile(str(integration / "registry.py"), _py(env, "registry.py.jinja", context)),
        OutputFile(str(package_rel / "worker.py"), _py(env, "worker.py.jinja", context)),
        OutputFile(str(package_rel / "relay.py"), _py(env, "relay.py.jinja", context)),
    ]
    for index, (spec, view) in enumerate(zip(specs, views, strict=True), start=1):
        step(f"compiling event schema {index}/{len(specs)} with the runtime's validator")
        schema = bundle.standalone(names[_key(spec)])
        _check_compiles(spec, schema)
        owned.append(
            OutputFile(str(integration / "event_schemas" / view.schema_file), dumps(schema))
        )

    scaffold = [
        OutputFile(
            str(package_rel / "__init__.py"),
            _py(env, "package_init.py.jinja", context),
            owned=False,
        ),
        OutputFile(
            str(package_rel / "providers.py"), _py(env, "providers.py.jinja", context), owned=False
        ),
        OutputFile(
            str(package_rel / "handlers" / "__init__.py"),
            _py(env, "handlers_init.py.jinja", context),
            owned=False,
        ),
    ]
    for view in views:
        scaffold.append(
            OutputFile(
                str(package_rel / "handlers" / f"{view.handler_module}.py"),
                _py(env, "handler.py.jinja", {**context, "event": view}),
                owned=False,
            )
        )
    scaffold += upcaster_scaffold(
        env, context, upcaster_views(views), package_rel, config.display(config.out)
    )
    # Parent packages of a dotted package need an __init__ too.
    for parent in list(package_rel.parents)[:-1]:
        scaffold.append(OutputFile(str(parent / "__init__.py"), "", owned=False))

    inputs = {f.rel: f.sha256 for f in files} | {f.rel: f.sha256 for f in bundler.external}
    manifest_path = str(integration / MANIFEST_NAME)
    manifest = {
        "generator": f"qxgen {VERSION}",
        "schemas": schemas_display,
        "inputs": dict(sorted(inputs.items())),
        "owned": {
            f.path: hashlib.sha256(f.content.encode("utf-8")).hexdigest()
            for f in sorted(owned, key=lambda f: f.path)
        },
        "scaffold": sorted(
            {f.path for f in scaffold} | _still_orphaned(config.out, manifest_path, scaffold)
        ),
        # Names are kept from one run to the next (see _event_class_names).
        "names": {_name_key(_key(s)): names[_key(s)] for s in specs},
        # Shared definitions ("file#pointer") and inline models ("Owner/properties/x") too.
        "definitions": dict(sorted(bundler.names.items())),
        "models": models,
    }
    owned.append(OutputFile(manifest_path, json.dumps(manifest, indent=2) + "\n"))
    return Plan(files=sorted([*owned, *scaffold], key=lambda f: f.path), manifest=manifest_path)


def _recorded(manifest: dict[str, Any], key: str) -> dict[str, str]:
    table = manifest.get(key)
    if not isinstance(table, dict):
        return {}
    return {str(k): v for k, v in table.items() if isinstance(v, str)}


def _still_orphaned(out: Path, manifest_path: str, scaffold: list[OutputFile]) -> set[str]:
    """Scaffold files of earlier runs no longer generated but still on disk. They stay listed
    in the manifest, so ``--check`` fails on every run (not just the first) until the file is
    deleted or its code moved: a handler importing a deleted class must not pass CI."""
    listed = read_manifest(out / manifest_path).get("scaffold", [])
    if not isinstance(listed, list):
        return set()
    produced = {f.path for f in scaffold}
    root = out.resolve()
    return {
        p
        for p in listed
        if isinstance(p, str)
        and p not in produced
        and (root / p).resolve().is_relative_to(root)
        and (out / p).is_file()
    }


def _check_compiles(spec: EventSpec, schema: dict[str, Any]) -> None:
    """Compile the bundled schema with the runtime's validator, so a pattern it cannot use
    fails here rather than when the worker starts."""
    try:
        jsonschema_rs.validator_for(schema, validate_formats=True, offline=True)
    except (ValueError, jsonschema_rs.ReferencingError) as exc:
        raise SchemaError(spec.file.display, "", f"the runtime cannot compile it: {exc}") from None


def _py(env: _render.Environment, template: str, context: Mapping[str, object]) -> str:
    return _render.python(_render.render(env, template, **context))


def _check_unique(specs: list[EventSpec]) -> None:
    seen: dict[tuple[str, int], EventSpec] = {}
    subjects: dict[str, EventSpec] = {}
    for spec in specs:
        key = (spec.type, spec.version)
        if key in seen:
            raise SchemaError(
                spec.file.display,
                "/x-qx-event",
                f"{spec.type} v{spec.version} is also declared by {seen[key].file.display}",
            )
        seen[key] = spec
        subject = subject_of(spec)
        if subject in subjects:
            raise SchemaError(
                spec.file.display,
                "/x-qx-event/subject",
                f"subject {subject} is also used by {subjects[subject].file.display}",
            )
        subjects[subject] = spec


def subject_of(spec: EventSpec) -> str:
    """The NATS subject an event is published on."""
    return spec.subject or f"{spec.type}.v{spec.version}"


def _event_class_names(
    specs: list[EventSpec], previous: Mapping[tuple[str, int], str] | None = None
) -> dict[tuple[str, int], str]:
    """``identity.user.registered`` v1 -> ``UserRegisteredV1`` (domain prefix dropped), falling
    back to the full type, then an ``Alt<n>`` suffix, when two events would share a name.

    Names are stable: an event named in ``previous`` (the last run's manifest) keeps its name,
    so adding an event never renames an existing class or its handler module. Only newcomers
    get a default name, and a newcomer whose default is already taken (by a kept event, or by
    an event of the previous run that is gone now) gets the full-type fallback.
    """
    previous = previous or {}
    names: dict[tuple[str, int], str] = {}
    taken: set[str] = set()
    modules: set[str] = set()
    for spec in specs:
        name = previous.get(_key(spec))
        if name is not None and _valid_name(name) and name not in taken:
            module = snake_case(name, fallback="event")
            if module not in modules:
                names[_key(spec)] = name
                taken.add(name)
                modules.add(module)
    # Names of removed events stay off-limits for this run: a newcomer must not pick up the
    # old event's (possibly implemented) handler module.
    retired = {n for n in previous.values() if _valid_name(n)}
    newcomers = [s for s in specs if _key(s) not in names]
    short: dict[tuple[str, int], str] = {}
    for spec in newcomers:
        parts = spec.type.split(".")
        words = parts[1:] if len(parts) >= 3 else parts
        short[_key(spec)] = pascal_case(" ".join(words), fallback="Event") + f"V{spec.version}"
    counts: dict[str, int] = {}
    for name in short.values():
        counts[name] = counts.get(name, 0) + 1
    for spec in newcomers:
        name = short[_key(spec)]
        if counts[name] > 1 or name in taken or name in retired:
            name = pascal_case(spec.type, fallback="Event") + f"V{spec.version}"
        # An "Alt<n>" suffix, not "_<n>": datamodel-code-generator rewrites "V1_2" to "V12".
        base, n = name, 2
        while name in taken or snake_case(name, fallback="event") in modules:
            name = f"{base}Alt{n}"
            n += 1
        taken.add(name)
        modules.add(snake_case(name, fallback="event"))
        names[_key(spec)] = name
    return names


def _valid_name(name: str) -> bool:
    return (
        name.isidentifier()
        and name.isascii()
        and name[:1].isupper()
        and not keyword.iskeyword(name)
        and name not in RESERVED_CLASS_NAMES
    )


def _name_key(key: tuple[str, int]) -> str:
    return f"{key[0]}:{key[1]}"


def _previous_names(out: Path, integration: PurePosixPath) -> dict[tuple[str, int], str]:
    """Event class names of the previous run: the manifest's ``names``, or, for output of a
    qxgen that did not record them, the ``__qx_type__``/``__qx_version__`` of the classes in
    the previous ``events.py``."""
    manifest = read_manifest(out / str(integration / MANIFEST_NAME))
    recorded = manifest.get("names")
    names: dict[tuple[str, int], str] = {}
    if isinstance(recorded, dict):
        for key, name in recorded.items():
            type_, sep, version = str(key).rpartition(":")
            if sep and version.isdigit() and isinstance(name, str):
                names[(type_, int(version))] = name
        return names
    if not manifest:
        return names
    try:
        tree = ast.parse((out / str(integration / "events.py")).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return names
    for node in tree.body:
        if not isinstance(node, ast.ClassDef):
            continue
        values: dict[str, object] = {}
        for item in node.body:
            if (
                isinstance(item, ast.AnnAssign)
                and isinstance(item.target, ast.Name)
                and isinstance(item.value, ast.Constant)
            ):
                values[item.target.id] = item.value.value
        qx_type, qx_version = values.get("__qx_type__"), values.get("__qx_version__")
        if isinstance(qx_type, str) and isinstance(qx_version, int):
            names.setdefault((qx_type, qx_version), node.name)
    return names


def _key(spec: EventSpec) -> tuple[str, int]:
    return (spec.type, spec.version)


def _view(
    spec: EventSpec, name: str, config: GeneratorConfig, package_rel: PurePosixPath
) -> EventView:
    module = snake_case(name, fallback="event")
    path = config.display(config.out / str(package_rel) / "handlers" / f"{module}.py")
    return EventView(
        name=name,
        type=spec.type,
        version=spec.version,
        subject=subject_of(spec),
        handler=f"{name}Handler",
        handler_module=module,
        schema_file=f"{spec.type}.v{spec.version}.json",
        not_implemented=(
            f"handler for {spec.type} v{spec.version} is not implemented yet: ",
            f"edit {path}",
        ),
    )
