"""Realistic schema collections (``tests/collections/<name>``), used unmodified.

Each collection has ``schemas/`` (authored for these tests in the style of public webhook and
CloudEvents-data collections; no file carries ``x-qx-event``, events are declared in its
``pyproject.toml``) and ``payloads/<schema path without suffixes>/<valid|invalid>-*.json``.

The oracle is the pure-Python ``jsonschema`` on the *original* files (its own ``referencing``
registry, root-relative refs found by dropping leading folders until a file matches), so the
bundler, the models and the runtime validator are all checked against an independent reading.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import jsonschema.validators
import referencing
import referencing.exceptions
import referencing.jsonschema

from qxgen import load_config, plan, write
from qxgen._loader import load_schema_dir, read_event_specs

COLLECTIONS = Path(__file__).resolve().parents[1] / "collections"
_BASE = "https://collection.test/"


@dataclass
class Payload:
    path: Path
    schema_rel: str
    event: tuple[str, int]
    data: Any
    intended_valid: bool


@dataclass
class Generated:
    name: str
    out: Path
    package: str
    seconds: float
    payloads: list[Payload]
    oracle: dict[str, Any]  # schema rel -> jsonschema validator


def generate(name: str, out: Path) -> Generated:
    root = COLLECTIONS / name
    config = load_config(root, out=out)
    started = time.perf_counter()
    write(plan(config), config.out)
    seconds = time.perf_counter() - started
    files = load_schema_dir(config.schemas, "schemas")
    specs = {s.file.rel: (s.type, s.version) for s in read_event_specs(files, config.events, "")}
    by_stem = {_strip(rel): rel for rel in specs}
    payloads = []
    for path in sorted((root / "payloads").rglob("*.json")):
        rel = path.parent.relative_to(root / "payloads").as_posix()
        schema_rel = by_stem[rel]
        payloads.append(
            Payload(
                path,
                schema_rel,
                specs[schema_rel],
                json.loads(path.read_text(encoding="utf-8")),
                path.name.startswith("valid"),
            )
        )
    return Generated(name, out, config.package, seconds, payloads, _oracle(config.schemas, specs))


def _strip(rel: str) -> str:
    path = Path(rel)
    return (path.parent / path.name.split(".")[0]).as_posix()


def _oracle(schemas: Path, specs: dict[str, tuple[str, int]]) -> dict[str, Any]:
    contents = {
        p.relative_to(schemas).as_posix(): json.loads(p.read_text(encoding="utf-8"))
        for p in schemas.rglob("*.json")
    }

    def retrieve(uri: str) -> referencing.Resource[Any]:
        rel = uri[len(_BASE) :] if uri.startswith(_BASE) else ""
        parts = rel.split("/")
        for start in range(len(parts)):
            found = contents.get("/".join(parts[start:]))
            if found is not None:
                return referencing.jsonschema.specification_with(
                    found.get("$schema", "https://json-schema.org/draft/2020-12/schema")
                ).create_resource(found)
        raise referencing.exceptions.NoSuchResource(uri)

    registry: referencing.Registry[Any] = referencing.Registry(retrieve=retrieve)  # type: ignore[call-arg]
    validators = {}
    for rel in specs:
        schema = contents[rel]
        cls = jsonschema.validators.validator_for(schema)
        resource = referencing.jsonschema.specification_with(
            schema.get("$schema", "https://json-schema.org/draft/2020-12/schema")
        ).create_resource(schema)
        validators[rel] = _with_base(
            cls, schema, registry.with_resource(_BASE + rel, resource), rel
        )
    return validators


def _with_base(cls: Any, schema: Any, registry: Any, rel: str) -> Any:
    """A validator whose base URI is the file's place in the collection."""
    wrapper = {"$ref": _BASE + rel}
    if "$schema" in schema:
        wrapper["$schema"] = schema["$schema"]
    return cls(wrapper, registry=registry, format_checker=cls.FORMAT_CHECKER)


def load_registry(generated: Generated) -> Any:
    sys.path.insert(0, str(generated.out))
    try:
        module = importlib.import_module(f"{generated.package}.integration.registry")
        importlib.import_module(f"{generated.package}.worker")
    finally:
        sys.path.remove(str(generated.out))
    return module.build_registry()


def runtime_verdict(registry: Any, payload: Payload) -> tuple[bool, Any]:
    try:
        event = registry.build(*payload.event, payload.data)
    except Exception as exc:  # any failure means the worker would not accept the message
        return False, exc
    return True, event
