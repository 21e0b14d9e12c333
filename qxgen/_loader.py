"""Finding and parsing the schema files, and reading the ``x-qx-event`` marker of event schemas."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema.validators
import yaml

from qxgen.errors import SchemaError

SCHEMA_SUFFIXES = (".json", ".yaml", ".yml")
EVENT_KEY = "x-qx-event"
DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"

_TOKEN = r"[A-Za-z0-9_-]+"
_EVENT_TYPE = re.compile(rf"^{_TOKEN}(\.{_TOKEN})*$")
_STREAM = re.compile(rf"^{_TOKEN}$")


@dataclass(frozen=True, slots=True)
class SchemaFile:
    """One parsed schema file. ``display`` is how messages name it (``schemas/orders/x.json``)."""

    path: Path
    rel: str
    display: str
    uri: str
    contents: Any
    sha256: str


@dataclass(frozen=True, slots=True)
class EventSpec:
    """What ``x-qx-event`` says about one event schema."""

    type: str
    version: int
    subject: str | None
    stream: str | None
    file: SchemaFile


def load_schema_dir(root: Path, display_root: str) -> list[SchemaFile]:
    """Every schema file under ``root``, sorted by relative path (so output never depends on
    directory listing order)."""
    if not root.is_dir():
        raise SchemaError(display_root, "", "schemas directory does not exist")
    paths = sorted(
        (p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in SCHEMA_SUFFIXES),
        key=lambda p: p.relative_to(root).as_posix(),
    )
    return [load_schema_file(p, root, display_root) for p in paths]


def load_schema_file(path: Path, root: Path, display_root: str) -> SchemaFile:
    rel = path.relative_to(root).as_posix() if path.is_relative_to(root) else path.as_posix()
    display = f"{display_root.rstrip('/')}/{rel}" if path.is_relative_to(root) else str(path)
    raw = path.read_bytes()
    contents = parse_document(raw, path.suffix.lower(), display)
    return SchemaFile(
        path=path,
        rel=rel,
        display=display,
        uri=path.resolve().as_uri(),
        contents=contents,
        sha256=hashlib.sha256(raw).hexdigest(),
    )


def parse_document(raw: bytes, suffix: str, display: str) -> Any:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SchemaError(display, "", f"not UTF-8 text ({exc.reason})") from None
    try:
        if suffix == ".json":
            return json.loads(text)
        return _json_compatible(yaml.load(text, Loader=_JsonYamlLoader))
    except json.JSONDecodeError as exc:
        raise SchemaError(display, "", f"invalid JSON at line {exc.lineno}: {exc.msg}") from None
    except yaml.YAMLError as exc:
        raise SchemaError(display, "", f"invalid YAML: {exc}") from None


class _JsonYamlLoader(yaml.SafeLoader):
    """YAML read as JSON data (YAML 1.2 style): ``2024-01-01`` stays a string and only
    true/false are booleans (YAML 1.1 would turn a property called ``on`` or ``no`` into one)."""


_DROPPED_TAGS = ("tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:bool")
_JsonYamlLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in _DROPPED_TAGS]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_JsonYamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


def _json_compatible(value: Any) -> Any:
    """Object keys as strings (YAML allows ``200:``), as JSON Schema sees them."""
    if isinstance(value, dict):
        return {str(k): _json_compatible(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_compatible(v) for v in value]
    return value


def dialect_of(contents: Any) -> str:
    if isinstance(contents, dict) and isinstance(contents.get("$schema"), str):
        return str(contents["$schema"])
    return DRAFT_2020_12


def check_schema(file: SchemaFile) -> None:
    """Validate the file against its draft's meta-schema; the error names the JSON pointer."""
    if not isinstance(file.contents, dict | bool):
        raise SchemaError(file.display, "", "a schema file must hold a JSON object")
    cls = jsonschema.validators.validator_for(
        file.contents, default=jsonschema.Draft202012Validator
    )
    # No format checker here: "regex" would be judged by Python's re, but patterns are
    # ECMA-262 and the runtime validator (jsonschema-rs) compiles them as such.
    meta = cls(cls.META_SCHEMA)
    error = jsonschema.exceptions.best_match(meta.iter_errors(file.contents))
    if error is not None:
        raise SchemaError(file.display, pointer(error.absolute_path), error.message)


def read_event_spec(file: SchemaFile) -> EventSpec | None:
    """The event marker of ``file``, or None for a file of shared definitions."""
    contents = file.contents
    if not isinstance(contents, dict) or EVENT_KEY not in contents:
        return None
    marker = contents[EVENT_KEY]
    at = f"/{EVENT_KEY}"
    if not isinstance(marker, dict):
        raise SchemaError(file.display, at, "must be an object {type, version, subject?, stream?}")
    unknown = sorted(set(marker) - {"type", "version", "subject", "stream"})
    if unknown:
        raise SchemaError(file.display, at, f"unknown key(s): {', '.join(map(repr, unknown))}")
    event_type = marker.get("type")
    if not isinstance(event_type, str) or not _EVENT_TYPE.match(event_type):
        raise SchemaError(
            file.display,
            f"{at}/type",
            "must be a dotted name like 'identity.user.registered' (letters, digits, _ and -)",
        )
    version = marker.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise SchemaError(file.display, f"{at}/version", "must be an integer >= 1")
    subject = marker.get("subject")
    if subject is not None and (not isinstance(subject, str) or not _EVENT_TYPE.match(subject)):
        raise SchemaError(
            file.display, f"{at}/subject", "must be a NATS subject without wildcards or spaces"
        )
    stream = marker.get("stream")
    if stream is not None and (not isinstance(stream, str) or not _STREAM.match(stream)):
        raise SchemaError(
            file.display, f"{at}/stream", "must be a stream name (letters, digits, _ and -)"
        )
    if contents.get("type") != "object":
        raise SchemaError(
            file.display, "/type", 'an event schema must be an object schema: "type": "object"'
        )
    return EventSpec(event_type, version, subject, stream, file)


def pointer(parts: Any) -> str:
    """A JSON pointer (RFC 6901) from path segments."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)
