"""``events.py``: pydantic v2 models from the bundled schemas, via datamodel-code-generator.

One ``generate()`` call renders every model (shared definitions and events) from a single
document whose ``$defs`` are the bundle's definitions. Event models get
``qx.events.IntegrationEvent`` as their base class (``base_class_map``); their wire identity
(``__qx_type__`` and friends) is then inserted right after the class docstring, at a place
found with ``ast`` rather than by searching text.

What goes to datamodel-code-generator is a *presentation* copy of the schemas: descriptions
wrapped and stripped of control characters, titles, examples and ``x-`` keys dropped. The
runtime validates against the untouched bundled schema.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
import textwrap
import unicodedata
from dataclasses import dataclass
from typing import Any

import datamodel_code_generator as dcg
from datamodel_code_generator.enums import DataModelType, InputFileType
from datamodel_code_generator.format import Formatter, PythonVersion
from datamodel_code_generator.parser import LiteralType

from qxgen._bundle import Bundle
from qxgen._loader import DRAFT_2020_12
from qxgen._naming import snake_case
from qxgen._shape import Hoister, shape
from qxgen.errors import QxgenError

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u2028\u2029\ud800-\udfff]")
_DESCRIPTION_WIDTH = 88
_LINE_LIMIT = 100
# Larger enums are typed by their base type and left to the validator: a 100k-member Enum
# class takes minutes to generate and import and helps no handler.
ENUM_LIMIT = 1000
# Objects with more properties get no declared fields (datamodel-code-generator needs about a
# minute for 30k): the validator checks them, the model keeps them as extras (``model_extra``).
PROPERTY_LIMIT = 2000
# Keywords whose pydantic counterpart is stricter than JSON Schema, or that pydantic cannot
# express; the validator enforces them (see _present).
_LEFT_TO_VALIDATOR = frozenset(
    {
        "title",
        "examples",
        "$comment",
        "pattern",
        "format",
        "multipleOf",
        "unevaluatedProperties",
        "unevaluatedItems",
        "contentEncoding",
        "contentMediaType",
        "contentSchema",
    }
)

# Keywords that only constrain values of one type (and are ignored for other types).
_TYPE_SPECIFIC = frozenset(
    {
        "properties",
        "patternProperties",
        "additionalProperties",
        "required",
        "minProperties",
        "maxProperties",
        "propertyNames",
        "dependentRequired",
        "dependentSchemas",
        "unevaluatedProperties",
        "items",
        "prefixItems",
        "contains",
        "minItems",
        "maxItems",
        "uniqueItems",
        "minContains",
        "maxContains",
        "unevaluatedItems",
        "minLength",
        "maxLength",
        "pattern",
        "format",
        "contentEncoding",
        "contentMediaType",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
    }
)

# Field names that would shadow an attribute of pydantic's BaseModel or IntegrationEvent.
_SHADOWING = (
    "construct",
    "copy",
    "dict",
    "from_orm",
    "json",
    "parse_file",
    "parse_obj",
    "parse_raw",
    "schema",
    "schema_json",
    "to_json_data",
    "update_forward_refs",
    "validate",
)


@dataclass(frozen=True, slots=True)
class EventClass:
    name: str
    type: str
    version: int
    subject: str
    stream: str | None


def render_events(
    bundle: Bundle,
    events: list[EventClass],
    header: str,
    previous_models: dict[str, str] | None = None,
) -> tuple[str, dict[str, str]]:
    """The source of ``events.py`` and the names given to inline models (for the manifest)."""
    presented = {
        name: _present(body)
        for name, body in shape(bundle.definitions, {e.name for e in events}).items()
    }
    hoister = Hoister(presented, previous_models or {})
    document = {"$schema": DRAFT_2020_12, "$defs": hoister.run()}
    try:
        source = dcg.generate(
            document,
            input_file_type=InputFileType.JsonSchema,
            output_model_type=DataModelType.PydanticV2BaseModel,
            target_python_version=PythonVersion.PY_311,
            base_class_map={e.name: "qx.events.IntegrationEvent" for e in events},
            additional_imports=["typing.ClassVar"],
            aliases=_aliases(bundle),
            type_mappings=["string+email=string", "string+idn-email=string"],
            formatters=[Formatter.BUILTIN],
            builtin_format_line_length=_LINE_LIMIT,
            disable_timestamp=True,
            skip_root_model=True,
            use_standard_collections=True,
            use_union_operator=True,
            use_annotated=True,
            field_constraints=True,
            use_double_quotes=True,
            use_schema_description=True,
            use_field_description=True,
            use_inline_field_description=True,
            capitalise_enum_members=True,
            strict_nullable=True,
            enum_field_as_literal=LiteralType.One,
        )
    except dcg.Error as exc:
        raise QxgenError(f"datamodel-code-generator failed: {exc}") from exc
    if not isinstance(source, str):
        raise QxgenError("datamodel-code-generator returned no single module")
    source = _strip_header(source)
    source = _insert_event_metadata(source, events)
    return _finish(header, source), dict(sorted(hoister.names.items()))


def _aliases(bundle: Bundle) -> dict[str, str]:
    """Python names for properties that would shadow a BaseModel attribute, fall in pydantic's
    protected ``model_`` namespace, or change under Python's NFKC normalisation of identifiers
    (``"ﬁ"`` would become ``fi``). The wire name stays the alias. A name already taken by
    another property gets a short hash suffix, so two properties never share a field."""
    properties = _property_names(bundle.definitions)
    taken = set(properties)
    aliases: dict[str, str] = {}

    def unique(name: str, candidate: str) -> str:
        if candidate in taken:
            candidate = f"{candidate}_{hashlib.sha256(name.encode()).hexdigest()[:6]}"
        taken.add(candidate)
        return candidate

    for name in sorted(properties):
        if name in _SHADOWING:
            aliases[name] = unique(name, f"{name}_")
        elif name.startswith("model_"):
            aliases[name] = unique(name, f"field_{name}")
        elif not name.isascii() and unicodedata.normalize("NFKC", name) != name:
            # Hash-suffixed: datamodel-code-generator renames "_x" to "field_x" on its own.
            digest = hashlib.sha256(name.encode()).hexdigest()[:6]
            aliases[name] = unique(name, f"field_{snake_case(name, fallback='x')}_{digest}")
    return aliases


def _property_names(node: Any) -> set[str]:
    names: set[str] = set()
    if isinstance(node, dict):
        properties = node.get("properties")
        if isinstance(properties, dict):
            names.update(k for k in properties if isinstance(k, str))
        for value in node.values():
            names |= _property_names(value)
    elif isinstance(node, list):
        for value in node:
            names |= _property_names(value)
    return names


def _present(node: Any) -> Any:
    """The copy of a schema shown to datamodel-code-generator.

    Where pydantic would be stricter than the schema, the copy is loosened (the runtime's
    raw-payload validation still enforces the schema exactly):

    * a schema without ``type`` applies ``properties``, ``minLength``... only to values of the
      matching type and accepts any other value, so those keywords are dropped (typed ``Any``);
    * ``patternProperties`` exempt matching names from ``additionalProperties``, which pydantic
      cannot express, so both are dropped;
    * ``false`` branches of ``anyOf``/``oneOf`` are dropped; an ``allOf`` containing ``false``
      accepts nothing, and is shown as ``Any`` (the validator rejects every value);
    * ``pattern`` is dropped: ECMA-262 patterns (``\\p{Lu}``, lookarounds) do not all compile in
      pydantic's regex engines, and a model that fails at import would crash the worker; the
      validator (jsonschema-rs, ECMA-262 semantics) enforces them;
    * ``format`` is dropped (values stay ``str``): pydantic's datetime, URL and duration types
      reject values the format allows (leap seconds, ``http://087.10.0.1/``, huge durations)
      and re-serialise others differently (``+00:00`` as ``Z``), so the payload would not
      round-trip; ``multipleOf`` (float arithmetic) and ``unevaluated*`` (pydantic cannot see
      what applicators evaluated) are dropped too;
    * ``additionalProperties: false`` next to ``allOf``/``anyOf``/``oneOf`` is dropped;
    * an enum of more than ``ENUM_LIMIT`` values is typed by its base type;
    * an object of more than ``PROPERTY_LIMIT`` properties declares no fields (extras kept);
    * ``number`` is ``int | float`` (an integer too big for a float is still a number);
    * an object that allows unknown properties keeps them (``extra="allow"``), so
      ``to_json_data()`` gives back what was validated.
    """
    if not isinstance(node, dict):
        return node
    if node.get("additionalProperties") is False and any(
        k in node for k in ("allOf", "anyOf", "oneOf")
    ):
        node = {k: v for k, v in node.items() if k != "additionalProperties"}
    if isinstance(node.get("enum"), list) and len(node["enum"]) > ENUM_LIMIT:
        node = {k: v for k, v in node.items() if k != "enum"}
    if isinstance(node.get("properties"), dict) and len(node["properties"]) > PROPERTY_LIMIT:
        count = len(node["properties"])
        node = {
            k: v
            for k, v in node.items()
            if k not in ("properties", "required", "additionalProperties", "description")
        }
        node["additionalProperties"] = True
        node["description"] = (
            f"{count} properties, more than qxgen's limit of {PROPERTY_LIMIT} fields per model: "
            "the validator checks them; read them from model_extra."
        )
    kind = node.get("type")
    if kind == "number" or (isinstance(kind, list) and "number" in kind and "integer" not in kind):
        # pydantic's float rejects integers beyond float range (10**400 is a JSON number).
        kinds = kind if isinstance(kind, list) else [kind]
        node = {
            **node,
            "type": [k for t in kinds for k in (["integer", t] if t == "number" else [t])],
        }
    if "properties" in node and "additionalProperties" not in node and "type" in node:
        # Unknown properties are allowed: keep them, so the payload round-trips.
        node = {**node, "additionalProperties": True}
    if "type" not in node and "$ref" not in node:
        node = {k: v for k, v in node.items() if k not in _TYPE_SPECIFIC}
    if "patternProperties" in node:
        node = {
            k: v for k, v in node.items() if k not in ("patternProperties", "additionalProperties")
        }
    if isinstance(node.get("allOf"), list) and False in node["allOf"]:
        node = {k: v for k, v in node.items() if k != "allOf"}
    for key in ("anyOf", "oneOf"):
        if isinstance(node.get(key), list) and False in node[key]:
            branches = [b for b in node[key] if b is not False]
            node = {k: v for k, v in node.items() if k != key}
            if branches:
                node[key] = branches
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _LEFT_TO_VALIDATOR or key.startswith("x-"):
            continue
        if key == "description" and isinstance(value, str):
            out[key] = _wrap(value)
        elif key in ("enum", "const", "default", "required"):
            out[key] = value
        elif key in ("properties", "$defs", "dependentSchemas"):
            out[key] = (
                {k: _present(v) for k, v in value.items()} if isinstance(value, dict) else value
            )
        elif isinstance(value, list):
            out[key] = [_present(v) for v in value]
        else:
            out[key] = _present(value)
    return out


def _wrap(text: str) -> str:
    text = _CONTROL.sub(" ", text.replace("\t", " ").replace("\r\n", "\n").replace("\r", "\n"))
    lines: list[str] = []
    for paragraph in text.split("\n"):
        wrapped = textwrap.wrap(paragraph, _DESCRIPTION_WIDTH, break_on_hyphens=False)
        lines.extend(wrapped or [""])
    return "\n".join(lines).strip("\n") or " "


def _strip_header(source: str) -> str:
    # split("\n"), not splitlines(): string literals may hold \x85, \u2028, \x0c...
    lines = source.split("\n")
    while lines and (lines[0].startswith("#") or not lines[0].strip()):
        lines.pop(0)
    return "\n".join(lines).rstrip("\n") + "\n"


def _insert_event_metadata(source: str, events: list[EventClass]) -> str:
    """Insert each event's ``__qx_*__`` ClassVars after its docstring (or replace ``pass``)."""
    lines = source.split("\n")
    classes = {n.name: n for n in ast.parse(source).body if isinstance(n, ast.ClassDef)}
    after: dict[int, list[str]] = {}  # line number -> lines to insert after it
    replace: dict[int, list[str]] = {}  # line number -> lines replacing it
    for event in events:
        node = classes.get(event.name)
        if node is None:
            raise QxgenError(
                f"internal error: datamodel-code-generator did not emit class {event.name}"
            )
        metadata = [
            f"    __qx_type__: ClassVar[str] = {json.dumps(event.type)}",
            f"    __qx_version__: ClassVar[int] = {event.version}",
            f"    __qx_subject__: ClassVar[str | None] = {json.dumps(event.subject)}",
        ]
        if event.stream is not None:
            metadata.append(f"    __qx_stream__: ClassVar[str | None] = {json.dumps(event.stream)}")
        first = node.body[0]
        if isinstance(first, ast.Pass):
            replace[first.lineno] = metadata
        elif _is_docstring(first):
            # datamodel-code-generator leaves a blank line after the docstring; keep it as the
            # separator between the metadata and the fields.
            after[first.end_lineno or first.lineno] = ["", *metadata]
        else:
            after[first.lineno - 1] = [*metadata, ""]
    out: list[str] = []
    for number, line in enumerate(lines, start=1):
        out.extend(replace.get(number, [line]))
        out.extend(after.get(number, []))
    return "\n".join(out).rstrip("\n") + "\n"


def _is_docstring(node: ast.stmt) -> bool:
    return (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    )


def _finish(header: str, source: str) -> str:
    codes: list[str] = []
    if any(len(line) > _LINE_LIMIT for line in source.split("\n")):
        codes.append("E501")
    if not source.isascii():
        # Only confusable characters trigger these; RUF100 keeps the exemption quiet otherwise.
        codes += ["RUF001", "RUF002", "RUF003"]
    if codes:
        codes.append("RUF100")
    noqa = f"# ruff: noqa: {', '.join(codes)}\n" if codes else ""
    text = header + noqa + "\n" + source
    try:
        compile(text, "events.py", "exec")
    except SyntaxError as exc:  # pragma: no cover - a bug in qxgen or datamodel-code-generator
        raise QxgenError(f"internal error: generated events.py does not compile: {exc}") from exc
    return text
