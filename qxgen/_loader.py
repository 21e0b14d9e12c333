"""Finding and parsing the schema files, and telling which are events: the ``x-qx-event``
marker in the file, or a ``[tool.qxgen.events]`` declaration (vendored files stay untouched)."""

from __future__ import annotations

import fnmatch
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema.validators
import jsonschema_rs
import yaml

from qxgen.config import EventDeclaration
from qxgen.errors import SchemaError

SCHEMA_SUFFIXES = (".json", ".yaml", ".yml")
EVENT_KEY = "x-qx-event"
DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"
DRAFT_2019_09 = "https://json-schema.org/draft/2019-09/schema"
DRAFT_07 = "http://json-schema.org/draft-07/schema"
DRAFT_06 = "http://json-schema.org/draft-06/schema"
DRAFT_04 = "http://json-schema.org/draft-04/schema"
# The drafts jsonschema-rs (the runtime validator) implements, by normalised $schema URI.
DRAFTS = {
    _uri.split("://", 1)[1]: _uri
    for _uri in (DRAFT_2020_12, DRAFT_2019_09, DRAFT_07, DRAFT_06, DRAFT_04)
}

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
    """The draft of a schema document: one of the ``DRAFTS`` values (2020-12 when unsaid)."""
    if isinstance(contents, dict) and isinstance(contents.get("$schema"), str):
        declared = str(contents["$schema"])
        return DRAFTS.get(_normalised(declared), declared)
    return DRAFT_2020_12


def _normalised(uri: str) -> str:
    """``https://json-schema.org/draft-07/schema#`` and its http twin compare equal."""
    return uri.split("://", 1)[-1].rstrip("#")


def check_dialect(file: SchemaFile) -> None:
    """Refuse a ``$schema`` the runtime validator does not implement, instead of silently
    reading it as 2020-12 (draft-04's boolean ``exclusiveMinimum`` would then mean nothing)."""
    contents = file.contents
    if not isinstance(contents, dict) or "$schema" not in contents:
        return
    declared = contents["$schema"]
    if not isinstance(declared, str) or _normalised(declared) not in DRAFTS:
        raise SchemaError(
            file.display,
            "/$schema",
            f"unknown $schema {declared!r}: qxgen and the runtime validator support "
            "draft-04, draft-06, draft-07, 2019-09 and 2020-12 "
            f"({', '.join(sorted(DRAFTS.values()))}); use one of these URIs",
        )


def check_schema(file: SchemaFile) -> None:
    """Validate the file against its draft's meta-schema; the error names the JSON pointer."""
    if not isinstance(file.contents, dict | bool):
        raise SchemaError(file.display, "", "a schema file must hold a JSON object")
    check_dialect(file)
    try:
        # jsonschema-rs first: the pure-Python check of a 5 MB schema takes tens of seconds.
        if jsonschema_rs.meta.is_valid(file.contents):
            return
    except (ValueError, jsonschema_rs.ReferencingError):
        pass  # let the pure-Python validator explain
    cls = jsonschema.validators.validator_for(
        file.contents, default=jsonschema.Draft202012Validator
    )
    # No format checker here: "regex" would be judged by Python's re, but patterns are
    # ECMA-262 and the runtime validator (jsonschema-rs) compiles them as such.
    meta = cls(cls.META_SCHEMA)
    error = jsonschema.exceptions.best_match(meta.iter_errors(file.contents))
    if error is not None:
        raise SchemaError(file.display, pointer(error.absolute_path), error.message)


def read_event_specs(
    files: list[SchemaFile], declarations: tuple[EventDeclaration, ...], pyproject: str
) -> list[EventSpec]:
    """The events among ``files``: marked by ``x-qx-event`` or declared in the config.

    A file takes the first declaration it matches (``false`` ones exclude it). A file both
    marked and declared is an error (which one wins would be a guess); so is a declaration
    matching no file (a typo would silently drop an event).
    """
    matched: dict[str, EventDeclaration] = {}
    for declaration in declarations:
        hits = [f for f in files if fnmatch.fnmatchcase(f.rel, declaration.pattern)]
        if not hits:
            raise SchemaError(
                pyproject,
                "",
                f"[tool.qxgen.events] {declaration.pattern!r} matches no schema file "
                "(paths are relative to the schemas directory)",
            )
        for file in hits:
            matched.setdefault(file.rel, declaration)
    specs: list[EventSpec] = []
    for file in files:
        declared = matched.get(file.rel)
        marked = isinstance(file.contents, dict) and EVENT_KEY in file.contents
        if declared is not None and declared.excludes:
            if marked:
                raise SchemaError(
                    file.display,
                    f"/{EVENT_KEY}",
                    f"marked as an event but excluded by {declared.pattern!r} = false in "
                    "[tool.qxgen.events]; keep one",
                )
            continue
        if declared is not None and marked:
            raise SchemaError(
                file.display,
                f"/{EVENT_KEY}",
                f"also declared by {declared.pattern!r} in [tool.qxgen.events]; keep one",
            )
        if declared is not None:
            marker = {
                "type": _fill(declared.type, file),
                "version": declared.version,
                **({"subject": _fill(declared.subject, file)} if declared.subject else {}),
                **({"stream": declared.stream} if declared.stream else {}),
            }
            specs.append(_spec(file, marker, f"[tool.qxgen.events] {declared.pattern!r}"))
        elif marked:
            specs.append(_spec(file, file.contents[EVENT_KEY], f"/{EVENT_KEY}"))
    return specs


def _fill(template: str, file: SchemaFile) -> str:
    rel = Path(file.rel)
    stem = rel.name.split(".")[0] if not rel.name.startswith(".") else rel.name
    folder = ".".join(rel.parent.parts)
    return template.replace("{stem}", stem).replace("{dir}", folder).replace("..", ".").strip(".")


def read_event_spec(file: SchemaFile) -> EventSpec | None:
    """The event marker of ``file``, or None for a file of shared definitions."""
    contents = file.contents
    if not isinstance(contents, dict) or EVENT_KEY not in contents:
        return None
    return _spec(file, contents[EVENT_KEY], f"/{EVENT_KEY}")


def _spec(file: SchemaFile, marker: Any, at: str) -> EventSpec:
    """``at`` is the marker's JSON pointer, or the config entry a declaration came from."""
    contents = file.contents

    def error(key: str, message: str) -> SchemaError:
        if at.startswith("/"):
            return SchemaError(file.display, f"{at}{key}", message)
        return SchemaError(file.display, "", f"{at}{key.replace('/', ' ')}: {message}")

    if not isinstance(marker, dict):
        raise error("", "must be an object {type, version, subject?, stream?}")
    unknown = sorted(set(marker) - {"type", "version", "subject", "stream"})
    if unknown:
        raise error("", f"unknown key(s): {', '.join(map(repr, unknown))}")
    event_type = marker.get("type")
    if not isinstance(event_type, str) or not _EVENT_TYPE.match(event_type):
        raise error(
            "/type",
            "must be a dotted name like 'identity.user.registered' (letters, digits, _ and -)",
        )
    version = marker.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise error("/version", "must be an integer >= 1")
    subject = marker.get("subject")
    if subject is not None and (not isinstance(subject, str) or not _EVENT_TYPE.match(subject)):
        raise error("/subject", "must be a NATS subject without wildcards or spaces")
    stream = marker.get("stream")
    if stream is not None and (not isinstance(stream, str) or not _STREAM.match(stream)):
        raise error("/stream", "must be a stream name (letters, digits, _ and -)")
    declared_type = contents.get("type") if isinstance(contents, dict) else None
    if not isinstance(contents, dict) or (
        declared_type is not None
        and declared_type != "object"
        and not (isinstance(declared_type, list) and "object" in declared_type)
    ):
        raise SchemaError(
            file.display,
            "/type",
            "an event payload is a JSON object: the schema must accept objects "
            '("type": "object", or no "type" with properties, allOf, $ref, oneOf...)',
        )
    return EventSpec(event_type, version, subject, stream, file)


def pointer(parts: Any) -> str:
    """A JSON pointer (RFC 6901) from path segments."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)
