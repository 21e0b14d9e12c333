"""Reshaping bundled schemas into what datamodel-code-generator turns into plain, flat models.

The runtime validates every payload against the untouched bundled schema first, so the models
only need to *accept* every valid payload, carry its fields and give them back unchanged. This
module makes the model schemas that loose, on purpose:

* ``allOf`` is merged into one object (properties of all parts, the first part's schema when
  several parts define a property, ``required`` of all parts). Any one part accepts a superset
  of the intersection, so the model is never stricter than the schema, and no model subclasses
  another (datamodel-code-generator's subclassing of ``allOf`` produced field overrides mypy
  rejects, and lost fields of events whose root was ``allOf``).
* An event whose root is a ``$ref`` is that definition's body (so the event class carries the
  fields and derives from ``IntegrationEvent``).
* An event whose root is ``oneOf``/``anyOf`` of object variants becomes one class with the union
  of the variants' properties: a property all variants define gets the union of their schemas,
  one that some variant leaves open is ``Any``; a property is required when every variant
  requires it. The variant actually matched is the validator's business.
* Objects allow extra properties unless the schema forbids them plainly (no applicators), so
  ``to_json_data()`` gives back what was validated.

Hand-rolled because no library does "loosest flat model of a schema"; it only ever drops or
merges keywords, never adds a constraint.
"""

from __future__ import annotations

import json
from typing import Any

from qxgen._bundle import SCHEMA_KEYWORDS, SCHEMA_LIST_KEYWORDS, SCHEMA_MAP_KEYWORDS
from qxgen._naming import pascal_case
from qxgen.errors import QxgenError, SchemaError

_DEFS = "#/$defs/"
# Keywords leaving "extra properties allowed?" to more than the sibling `properties`.
_OPEN_ENDED = ("additionalProperties", "unevaluatedProperties", "patternProperties")
_ANNOTATIONS = ("description", "title", "$comment", "examples", "default")


def shape(definitions: dict[str, Any], events: set[str]) -> dict[str, Any]:
    """The model schemas for every definition (events flattened to one object each)."""
    out: dict[str, Any] = {}
    for name, body in definitions.items():
        flat = _flatten(body, definitions, frozenset({name}))
        if name in events:
            flat = _event_root(flat, definitions, name, frozenset({name}))
        out[name] = flat
    return out


def _target(ref: Any) -> str | None:
    return ref[len(_DEFS) :] if isinstance(ref, str) and ref.startswith(_DEFS) else None


def _flatten(node: Any, defs: dict[str, Any], seen: frozenset[str]) -> Any:
    """``node`` with every ``allOf`` below and at it merged."""
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in SCHEMA_KEYWORDS:
            out[key] = _flatten(value, defs, seen)
        elif key in SCHEMA_LIST_KEYWORDS and isinstance(value, list):
            out[key] = [_flatten(v, defs, seen) for v in value]
        elif key in SCHEMA_MAP_KEYWORDS and isinstance(value, dict):
            out[key] = {k: _flatten(v, defs, seen) for k, v in value.items()}
        else:
            out[key] = value
    parts = out.get("allOf")
    if not isinstance(parts, list) or any(p is False for p in parts):
        return out  # an allOf with `false` accepts nothing; _models shows it as Any
    rest = {k: v for k, v in out.items() if k != "allOf"}
    refs = [p for p in parts if isinstance(p, dict) and set(p) == {"$ref"}]
    if len(parts) == 1 and refs and all(k in _ANNOTATIONS for k in rest):
        # `allOf: [{$ref}]` is the common way to annotate a ref: keep the shared class.
        return {**rest, "$ref": refs[0]["$ref"]}
    return _merge([rest, *(_inline(p, defs, seen) for p in parts)])


def _inline(part: Any, defs: dict[str, Any], seen: frozenset[str]) -> Any:
    """``part`` with a ``$ref`` at its top replaced by the definition (merged with siblings);
    a recursive ref is dropped (looser, never stricter)."""
    if not isinstance(part, dict) or "$ref" not in part:
        return part
    name = _target(part["$ref"])
    rest = {k: v for k, v in part.items() if k != "$ref"}
    if name is None or name in seen or name not in defs:
        return rest
    body = _flatten(defs[name], defs, seen | {name})
    return _merge([_inline(body, defs, seen | {name}), rest]) if rest else body


def _merge(parts: list[Any]) -> dict[str, Any]:
    """One object accepting at least what every part accepts together (see module doc)."""
    out: dict[str, Any] = {}
    properties: dict[str, Any] = {}
    required: list[str] = []
    open_ended = False
    for part in parts:
        if not isinstance(part, dict):
            continue
        for key, value in part.items():
            if key == "properties" and isinstance(value, dict):
                for name, schema in value.items():
                    properties.setdefault(name, schema)
            elif key == "required" and isinstance(value, list):
                required.extend(r for r in value if r not in required)
            elif key in _OPEN_ENDED or key == "$ref":
                open_ended = True
            else:
                out.setdefault(key, value)
    if properties:
        out["properties"] = properties
    if required:
        out["required"] = required
    if properties or open_ended or out.get("type") == "object":
        out["additionalProperties"] = True
    return out


def _event_root(node: Any, defs: dict[str, Any], name: str, seen: frozenset[str]) -> Any:
    """An event root as one flat object schema (root ``$ref`` inlined, variants united)."""
    if not isinstance(node, dict):
        raise QxgenError(f"internal error: event {name} has a non-object schema")
    while "$ref" in node:
        target = _target(node["$ref"])
        rest = {k: v for k, v in node.items() if k != "$ref"}
        if target is None or target in seen or target not in defs:
            node = rest
            break
        seen = seen | {target}
        body = _flatten(defs[target], defs, seen)
        node = _merge([body, rest]) if rest else body
    for key in ("oneOf", "anyOf"):
        branches = node.get(key)
        if not isinstance(branches, list):
            continue
        variants = [
            _event_root(_inline(b, defs, seen), defs, name, seen)
            for b in branches
            if b is not False
        ]
        rest = {k: v for k, v in node.items() if k not in (key, "discriminator")}
        node = _merge([rest, _union(variants)])
    # A payload is an object: without this a root with no "type" would be typed Any.
    if "type" not in node:
        node = {"type": "object", **node}
    kind = node["type"]
    if kind != "object" and not (isinstance(kind, list) and "object" in kind):
        raise SchemaError(
            f"event class {name}",
            "",
            f"this event's schema accepts no JSON object (its root resolves to type {kind!r}); "
            "an event payload is an object",
        )
    node = {**node, "type": "object"}
    if node.get("additionalProperties") is not False:
        # Unknown properties are kept as extras (a typed map would make a RootModel, which
        # is no event); the validator checks them against the schema.
        node = {**node, "additionalProperties": True}
    return node


def _union(variants: list[Any]) -> dict[str, Any]:
    """One object accepting what any of ``variants`` accepts."""
    objects = [v for v in variants if isinstance(v, dict)]
    if any(v is True for v in variants) or not objects:
        return {"type": "object", "additionalProperties": True}
    names: list[str] = []
    for variant in objects:
        names.extend(n for n in variant.get("properties", {}) if n not in names)
    properties: dict[str, Any] = {}
    for prop in names:
        schemas: list[Any] = []
        keys: set[str] = set()
        open_somewhere = False
        for variant in objects:
            schema = variant.get("properties", {}).get(prop)
            if schema is None:
                open_somewhere = open_somewhere or variant.get("additionalProperties") is not False
                continue
            key = json.dumps(schema, sort_keys=True)
            if key not in keys:
                keys.add(key)
                schemas.append(schema)
        if open_somewhere:
            properties[prop] = {}
        else:
            properties[prop] = schemas[0] if len(schemas) == 1 else {"anyOf": schemas}
    required = [
        r
        for r in objects[0].get("required", [])
        if all(r in v.get("required", []) for v in objects)
    ]
    out: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": True}
    if required:
        out["required"] = required
    return out


class Hoister:
    """Moves inline objects and enums into named definitions before datamodel-code-generator
    sees them.

    Left inline, datamodel-code-generator names them after the property and numbers clashes
    in document order (``Address``, ``Address1``), so adding an unrelated event could hand a
    committed handler's ``Address`` to another class. Here each one is keyed by where it sits
    (``OrderPlacedV1/properties/address``); a key named in the last run's manifest keeps its
    name, and recorded names are never given to another key.
    """

    def __init__(self, definitions: dict[str, Any], previous: dict[str, str]) -> None:
        self.definitions = dict(definitions)
        self._previous = {k: v for k, v in previous.items() if v.isidentifier()}
        self._taken = set(definitions)
        self._reserved = set(self._previous.values())
        self.names: dict[str, str] = {}

    def run(self) -> dict[str, Any]:
        for name in sorted(self.definitions):
            self.definitions[name] = self._children(self.definitions[name], name, name)
        return self.definitions

    def _children(self, node: Any, key: str, owner: str) -> Any:
        if not isinstance(node, dict):
            return node
        out = dict(node)
        properties = node.get("properties")
        if isinstance(properties, dict):
            out["properties"] = {
                prop: self._value(sub, f"{key}/properties/{prop}", owner, prop)
                for prop, sub in properties.items()
            }
        items = node.get("items")
        if isinstance(items, dict):
            out["items"] = self._value(items, f"{key}/items", owner, _hint(key) + " item")
        extra = node.get("additionalProperties")
        if isinstance(extra, dict):
            out["additionalProperties"] = self._value(
                extra, f"{key}/additionalProperties", owner, _hint(key) + " value"
            )
        for applicator in ("anyOf", "oneOf"):
            branches = node.get(applicator)
            if isinstance(branches, list):
                out[applicator] = [
                    self._value(b, f"{key}/{applicator}/{i}", owner, _hint(key))
                    for i, b in enumerate(branches)
                ]
        return out

    def _value(self, node: Any, key: str, owner: str, hint: str) -> Any:
        node = self._children(node, key, owner)
        if not _becomes_class(node):
            return node
        name = self._name(key, owner, hint)
        self.definitions[name] = node
        return {"$ref": f"#/$defs/{name}"}

    def _name(self, key: str, owner: str, hint: str) -> str:
        kept = self._previous.get(key)
        if kept is not None and kept not in self._taken:
            self._taken.add(kept)
            self.names[key] = kept
            return kept
        candidates = [pascal_case(hint), pascal_case(f"{owner} {hint}")]
        name = next(
            (c for c in candidates if c not in self._taken and c not in self._reserved), None
        )
        base, n = candidates[-1], 2
        while name is None:
            if f"{base}{n}" not in self._taken and f"{base}{n}" not in self._reserved:
                name = f"{base}{n}"
            n += 1
        self._taken.add(name)
        self.names[key] = name
        return name


def _hint(key: str) -> str:
    """The property a key ends in (``X/properties/lines/items`` -> ``lines``)."""
    parts = key.split("/")
    for index in range(len(parts) - 1, 0, -1):
        if parts[index - 1] == "properties":
            return parts[index]
    return parts[0]


def _becomes_class(node: Any) -> bool:
    """Would datamodel-code-generator make a class of this inline schema?"""
    if not isinstance(node, dict) or "$ref" in node:
        return False
    if isinstance(node.get("properties"), dict) and node["properties"]:
        return True
    enum = node.get("enum")
    return isinstance(enum, list) and len(enum) > 1
