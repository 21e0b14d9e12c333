"""Is every instance of schema A an instance of schema B? Decided keyword by keyword.

Hand-rolled because no maintained library decides JSON Schema inclusion for draft 2020-12
(``jsonsubschema`` is draft-04 only and unmaintained); the cross-check against instance
sampling in ``tests/compat`` keeps it honest.

The walk reports *findings*: reasons why A may not be included in B. Each one is either
breaking (an instance of A is rejected by B, as far as the rule can tell) or undecided (the
rule cannot tell, e.g. two different regular expressions). No finding means A ⊆ B is proven.
Rules are conservative: when in doubt they report, they never stay silent.

Codes are named after the edit from the old to the new schema: the backward check walks
(old, new), the forward check (new, old) with ``flipped=True`` so both name the same edit.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import jsonschema_rs

_DRAFT = "https://json-schema.org/draft/2020-12/schema"
ALL_TYPES = frozenset({"null", "boolean", "object", "array", "string", "integer", "number"})
ANNOTATIONS = frozenset(
    {
        "title",
        "description",
        "default",
        "examples",
        "deprecated",
        "readOnly",
        "writeOnly",
        "$comment",
        "$schema",
        "$id",
        "$anchor",
        "$defs",
        "definitions",
        "contentEncoding",
        "contentMediaType",
        "contentSchema",
        "discriminator",
    }
)
# Keywords compared only for equality: anything else is undecided.
_EQUAL_ONLY = ("if", "then", "else", "unevaluatedProperties", "unevaluatedItems")
HANDLED = frozenset(
    {
        "type",
        "enum",
        "const",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
        "minLength",
        "maxLength",
        "pattern",
        "format",
        "minItems",
        "maxItems",
        "uniqueItems",
        "items",
        "prefixItems",
        "contains",
        "minContains",
        "maxContains",
        "required",
        "properties",
        "patternProperties",
        "additionalProperties",
        "minProperties",
        "maxProperties",
        "propertyNames",
        "dependentRequired",
        "dependentSchemas",
        "allOf",
        "anyOf",
        "oneOf",
        "not",
        "$ref",
        *_EQUAL_ONLY,
    }
)
_NUMERIC = frozenset({"integer", "number"})


@dataclass(frozen=True, slots=True)
class Finding:
    code: str
    pointer: str
    detail: str
    sentence: str
    undecided: bool = False


@dataclass(frozen=True, slots=True)
class _Bound:
    value: Fraction
    exclusive: bool
    keyword: str
    raw: Any


class Checker:
    """Findings against ``a ⊆ b``; ``a_root``/``b_root`` hold the ``$defs`` refs point into."""

    def __init__(self, a_root: Any, b_root: Any, *, flipped: bool = False) -> None:
        self.a_root = a_root
        self.b_root = b_root
        self.flipped = flipped
        self.findings: list[Finding] = []
        self._stack: set[tuple[int, int]] = set()
        self._validators: dict[tuple[str, str], Any] = {}

    # -- entry points --------------------------------------------------------------------

    def run(self) -> list[Finding]:
        self.sub(self.a_root, self.b_root, "", "")
        seen: set[tuple[str, str, str]] = set()
        unique = []
        for f in self.findings:
            key = (f.code, f.pointer, f.detail)
            if key not in seen:
                seen.add(key)
                unique.append(f)
        return unique

    def sub(self, a: Any, b: Any, ptr: str, inst: str) -> None:
        key = (id(a), id(b))
        if key in self._stack:
            return  # coinductive: a recursive pair already under comparison holds
        self._stack.add(key)
        try:
            self._sub(self._deref(a, self.a_root), self._deref(b, self.b_root), ptr, inst)
        finally:
            self._stack.discard(key)

    # -- helpers -------------------------------------------------------------------------

    @property
    def who(self) -> str:
        return "new messages" if self.flipped else "old messages"

    @property
    def fate(self) -> str:
        return "are rejected by old consumers" if self.flipped else "are rejected"

    @property
    def by(self) -> str:
        return "the old schema" if self.flipped else "the new schema"

    def code(self, plain: str, flipped: str) -> str:
        return flipped if self.flipped else plain

    def old_new(self, a_value: Any, b_value: Any) -> str:
        old, new = (b_value, a_value) if self.flipped else (a_value, b_value)
        return f"{_show(old)} → {_show(new)}"

    def emit(
        self, code: str, ptr: str, detail: str, sentence: str, *, undecided: bool = False
    ) -> None:
        self.findings.append(Finding(code, ptr or "", detail, sentence, undecided))

    @contextmanager
    def trial(self) -> Iterator[list[Finding]]:
        """Findings collected inside are handed to the caller, not reported."""
        saved = self.findings
        self.findings = []
        found = self.findings
        try:
            yield found
        finally:
            self.findings = saved

    def clean(self, a: Any, b: Any) -> bool:
        with self.trial() as found:
            self.sub(a, b, "", "")
        return not found

    def _deref(self, node: Any, root: Any) -> Any:
        seen = 0
        while isinstance(node, dict) and isinstance(node.get("$ref"), str):
            target = _pointer_get(root, node["$ref"])
            rest = {k: v for k, v in node.items() if k != "$ref" and k not in ANNOTATIONS}
            if rest:
                node = {**rest, "allOf": [target, *rest.get("allOf", [])]}
                break
            node = target
            seen += 1
            if seen > 64:
                break
        if node is True:
            return {}
        return node

    def valid(self, schema: Any, value: Any, root: Any) -> bool | None:
        if schema is True or schema == {}:
            return True
        if schema is False:
            return False
        # By content, not id(): merged schemas are transient and their ids get reused.
        key = ("b" if root is self.b_root else "a", json.dumps(schema, sort_keys=True))
        validator = self._validators.get(key)
        if validator is None:
            document = {"$schema": _DRAFT, **schema}
            if isinstance(root, dict) and "$defs" in root:
                document["$defs"] = root["$defs"]
            try:
                validator = jsonschema_rs.validator_for(document, validate_formats=True)
            except Exception:
                return None
            self._validators[key] = validator
        try:
            return bool(validator.is_valid(value))
        except Exception:
            return None

    # -- the walk ------------------------------------------------------------------------

    def _sub(self, a: Any, b: Any, ptr: str, inst: str) -> None:
        if a is False:
            return
        if b is False:
            if not _is_empty(a):
                self.emit(
                    self.code("SCHEMA_REJECTS_ALL", "SCHEMA_ACCEPTS_AGAIN"),
                    ptr,
                    self.old_new(True, False),
                    f"{self.who} with {_name(inst)} are rejected: {self.by} allows nothing here",
                )
            return
        if not isinstance(a, dict) or not isinstance(b, dict):
            return
        if not _assertions(b):
            return
        if "allOf" in a:
            merged = _merge_all_of(a, self.a_root)
            if merged is False:
                return
            if merged is None:
                self._allof_a(a, b, ptr, inst)
                return
            a = merged
        for word in ("anyOf", "oneOf"):
            if isinstance(a.get(word), list):
                rest = {k: v for k, v in a.items() if k != word}
                for i, branch in enumerate(a[word]):
                    combined = _merge_two(rest, self._deref(branch, self.a_root))
                    if combined is None:
                        combined = {"allOf": [rest, branch]}
                    self.sub(combined, b, f"{ptr}/{word}/{i}", inst)
                return
        finite = _finite_values(a)
        if finite is not None:
            self._finite(a, b, finite, ptr, inst)
            return
        if "not" in a and "not" in b and _same(a["not"], b["not"]):
            a = {k: v for k, v in a.items() if k != "not"}
            b = {k: v for k, v in b.items() if k != "not"}
        if isinstance(b.get("allOf"), list):
            for i, branch in enumerate(b["allOf"]):
                self.sub(a, branch, f"{ptr}/allOf/{i}", inst)
            b = {k: v for k, v in b.items() if k != "allOf"}
        if isinstance(b.get("anyOf"), list):
            self._anyof_b(a, b["anyOf"], ptr, inst, exclusive=False)
            b = {k: v for k, v in b.items() if k != "anyOf"}
        if isinstance(b.get("oneOf"), list):
            self._anyof_b(a, b["oneOf"], ptr, inst, exclusive=True)
            b = {k: v for k, v in b.items() if k != "oneOf"}
        if "not" in b:
            self._not_b(a, b["not"], ptr, inst)
        for word in _EQUAL_ONLY:
            if word in b and not _same(a.get(word), b[word]):
                self.emit(
                    "KEYWORD_UNDECIDED",
                    f"{ptr}/{word}",
                    self.old_new(a.get(word), b[word]),
                    f"{word} changed: qxgen cannot decide whether {self.who} still pass",
                    undecided=True,
                )
        for word in sorted(b):
            if word in HANDLED or word in ANNOTATIONS or word.startswith("x-"):
                continue
            if not _same(a.get(word), b[word]):
                self.emit(
                    "KEYWORD_UNSUPPORTED",
                    f"{ptr}/{word}",
                    self.old_new(a.get(word), b[word]),
                    f"qxgen does not compare the keyword {word!r}; check it by hand",
                    undecided=True,
                )
        if "enum" in b or "const" in b:
            self._enum_b(a, b, ptr, inst)
            return
        types = self._types(a, b, ptr, inst)
        if types & _NUMERIC:
            self._numbers(a, b, types, ptr, inst)
        if "string" in types:
            self._strings(a, b, ptr, inst)
        if "array" in types:
            self._arrays(a, b, ptr, inst)
        if "object" in types:
            self._objects(a, b, ptr, inst)

    def _allof_a(self, a: dict[str, Any], b: Any, ptr: str, inst: str) -> None:
        rest = {k: v for k, v in a.items() if k != "allOf"}
        if self.clean(rest, b) or any(self.clean(br, b) for br in a["allOf"]):
            return
        self.emit(
            "ALLOF_UNDECIDED",
            f"{ptr}/allOf",
            "",
            f"cannot decide whether the allOf of {_name(inst)} still fits {self.by}",
            undecided=True,
        )

    def _finite(
        self, a: dict[str, Any], b: dict[str, Any], values: list[Any], ptr: str, inst: str
    ) -> None:
        """``a`` allows finitely many values: check each one against ``b`` (exact)."""
        both = ("enum" in a or "const" in a) and ("enum" in b or "const" in b)
        for value in values:
            if self.valid(a, value, self.a_root) is False:
                continue  # not an instance of a at all
            ok = self.valid(b, value, self.b_root)
            if ok:
                continue
            if ok is None:
                self.emit(
                    "VALUE_UNDECIDED",
                    ptr,
                    _show(value),
                    f"cannot validate {_show(value)} against {self.by}",
                    undecided=True,
                )
                continue
            if both and "const" in a and "const" in b:
                code = "CONST_CHANGED"
                where = f"{ptr}/const"
            elif both:
                code = self.code("ENUM_VALUE_REMOVED", "ENUM_VALUE_ADDED")
                where = f"{ptr}/enum"
            else:
                code = "VALUE_REJECTED"
                where = ptr
            self.emit(
                code,
                where,
                _show(value),
                f"{self.who} with {_name(inst)} = {_show(value)} {self.fate}",
            )

    def _enum_b(self, a: dict[str, Any], b: dict[str, Any], ptr: str, inst: str) -> None:
        """``b`` allows finitely many values and ``a`` infinitely many (else ``_finite``)."""
        types = _types(a)
        if types and not _is_empty(a):
            word = "const" if "const" in b else "enum"
            self.emit(
                self.code(f"{word.upper()}_ADDED", f"{word.upper()}_REMOVED"),
                f"{ptr}/{word}",
                self.old_new(None, b[word]),
                f"{self.who} with any other {_name(inst)} than {_show(b[word])} {self.fate}",
            )

    def _anyof_b(
        self, a: dict[str, Any], branches: list[Any], ptr: str, inst: str, *, exclusive: bool
    ) -> None:
        word = "oneOf" if exclusive else "anyOf"
        matched = [i for i, br in enumerate(branches) if self.clean(a, br)]
        if not matched and not exclusive:
            # Split a by type: ["string", "null"] can match two variants, one per type.
            types = _types(a)
            if len(types) > 1 and all(
                any(self.clean(_restrict(a, t), br) for br in branches) for t in sorted(types)
            ):
                return
        if not matched:
            code = (
                "VARIANT_REMOVED" if "/anyOf/" in ptr or "/oneOf/" in ptr else "NO_MATCHING_VARIANT"
            )
            if self.flipped:
                code = "VARIANT_ADDED" if code == "VARIANT_REMOVED" else "NO_MATCHING_VARIANT"
            self.emit(
                code,
                ptr,
                "",
                f"{self.who} with {_name(inst)} match none of the {word} variants of {self.by}",
            )
            return
        if not exclusive:
            return
        first = matched[0]
        for j, br in enumerate(branches):
            if j == first:
                continue
            if j in matched:
                self.emit(
                    "ONEOF_AMBIGUOUS",
                    f"{ptr}/oneOf/{j}",
                    "",
                    f"{self.who} with {_name(inst)} match oneOf variants {first} and {j} of "
                    f"{self.by}, so they {self.fate}",
                )
            elif not self._disjoint(a, br):
                self.emit(
                    "ONEOF_UNDECIDED",
                    f"{ptr}/oneOf/{j}",
                    "",
                    f"cannot tell whether {self.who} with {_name(inst)} also match oneOf "
                    f"variant {j} of {self.by} (then they would be rejected)",
                    undecided=True,
                )

    def _not_b(self, a: dict[str, Any], negated: Any, ptr: str, inst: str) -> None:
        n = self._deref(negated, self.b_root)
        if self._disjoint(a, n):
            return
        if "not" in a and self.clean_cross(n, a["not"]):
            return
        if self.clean(a, n) and not _is_empty(a):
            self.emit(
                self.code("NOT_ADDED", "NOT_REMOVED"),
                f"{ptr}/not",
                "",
                f"{self.who} with {_name(inst)} are excluded by the `not` of {self.by}",
            )
            return
        self.emit(
            "NOT_UNDECIDED",
            f"{ptr}/not",
            "",
            f"cannot decide whether the `not` of {self.by} excludes {self.who} at {_name(inst)}",
            undecided=True,
        )

    def clean_cross(self, b_node: Any, a_node: Any) -> bool:
        """``b_node ⊆ a_node`` with the roots swapped (for ``not``: N_b ⊆ N_a ⇒ ¬N_a ⊆ ¬N_b)."""
        other = Checker(self.b_root, self.a_root, flipped=not self.flipped)
        other.sub(b_node, a_node, "", "")
        return not other.findings

    def _disjoint(self, a: Any, b: Any) -> bool:
        a = self._deref(a, self.a_root)
        b = self._deref(b, self.b_root)
        if a is False or b is False or _is_empty(a) or _is_empty(b):
            return True
        if not isinstance(a, dict) or not isinstance(b, dict):
            return False
        ta, tb = _types(a), _types(b)
        if not _types_meet(ta, tb):
            return True
        finite = _finite_values(a)
        if finite is not None and all(self.valid(b, v, self.b_root) is False for v in finite):
            return True
        common = set(a.get("required", [])) & set(b.get("required", []))
        for prop in sorted(common):
            va = _finite_values(self._deref(_prop_schema(a, prop), self.a_root) or {})
            vb = _finite_values(self._deref(_prop_schema(b, prop), self.b_root) or {})
            if va is not None and vb is not None and not any(_same(x, y) for x in va for y in vb):
                return True
        return False

    # -- types ---------------------------------------------------------------------------

    def _types(self, a: dict[str, Any], b: dict[str, Any], ptr: str, inst: str) -> frozenset[str]:
        ta, tb = _types(a), _types(b)
        lost = sorted(t for t in ta if not _type_covered(t, tb))
        if lost:
            if lost == ["null"]:
                code = self.code("NULLABLE_REMOVED", "NULLABLE_ADDED")
            else:
                code = self.code("TYPE_NARROWED", "TYPE_WIDENED")
            self.emit(
                code,
                f"{ptr}/type",
                self.old_new(_type_list(a), _type_list(b)),
                f"{self.who} with {_name(inst)} of type {_or(lost)} {self.fate}",
            )
        kept = {t for t in ta if _type_covered(t, tb)}
        if "number" in ta and "integer" in tb and "number" not in tb:
            kept.add("integer")
        return frozenset(kept)

    # -- numbers, strings, arrays --------------------------------------------------------

    def _numbers(
        self, a: dict[str, Any], b: dict[str, Any], types: frozenset[str], ptr: str, inst: str
    ) -> None:
        ints = not (types & {"number"})
        self._bounds(a, b, ptr, inst, ("minimum", "exclusiveMinimum"), lower=True, ints=ints)
        self._bounds(a, b, ptr, inst, ("maximum", "exclusiveMaximum"), lower=False, ints=ints)
        mb = _fraction(b.get("multipleOf"))
        if mb is None or mb <= 0:
            return
        ma = _fraction(a.get("multipleOf"))
        if ma is not None and ma > 0 and (ma / mb).denominator == 1:
            return
        if ints and (1 / mb).denominator == 1:
            return
        code = "MULTIPLE_OF_ADDED" if ma is None else "MULTIPLE_OF_CHANGED"
        if self.flipped:
            code = "MULTIPLE_OF_REMOVED" if ma is None else "MULTIPLE_OF_CHANGED"
        self.emit(
            code,
            f"{ptr}/multipleOf",
            self.old_new(a.get("multipleOf"), b.get("multipleOf")),
            f"{self.who} with {_name(inst)} not a multiple of {_show(b['multipleOf'])} {self.fate}",
        )

    def _strings(self, a: dict[str, Any], b: dict[str, Any], ptr: str, inst: str) -> None:
        self._bounds(a, b, ptr, inst, ("minLength",), lower=True, ints=True, what="length of ")
        self._bounds(a, b, ptr, inst, ("maxLength",), lower=False, ints=True, what="length of ")
        for word in ("pattern", "format"):
            if word not in b or _same(a.get(word), b[word]):
                continue
            up = word.upper()
            code = f"{up}_ADDED" if word not in a else f"{up}_CHANGED"
            if self.flipped:
                code = f"{up}_REMOVED" if word not in a else f"{up}_CHANGED"
            self.emit(
                code,
                f"{ptr}/{word}",
                self.old_new(a.get(word), b[word]),
                f"{self.who} with {_name(inst)} not matching {word} {_show(b[word])} {self.fate}",
            )

    def _arrays(self, a: dict[str, Any], b: dict[str, Any], ptr: str, inst: str) -> None:
        self._bounds(a, b, ptr, inst, ("minItems",), lower=True, ints=True, what="item count of ")
        self._bounds(a, b, ptr, inst, ("maxItems",), lower=False, ints=True, what="item count of ")
        max_a = a.get("maxItems")
        if (
            b.get("uniqueItems") is True
            and a.get("uniqueItems") is not True
            and not (isinstance(max_a, int) and max_a <= 1)
        ):
            self.emit(
                self.code("UNIQUE_ITEMS_ADDED", "UNIQUE_ITEMS_REMOVED"),
                f"{ptr}/uniqueItems",
                self.old_new(a.get("uniqueItems", False), True),
                f"{self.who} with duplicate items in {_name(inst)} {self.fate}",
            )
        pa: list[Any] = _list(a.get("prefixItems"))
        pb: list[Any] = _list(b.get("prefixItems"))
        ia, ib = a.get("items", True), b.get("items", True)
        limit = max(len(pa), len(pb))
        for i in range(limit):
            if isinstance(max_a, int) and i >= max_a:
                return
            sa = pa[i] if i < len(pa) else ia
            sb = pb[i] if i < len(pb) else ib
            where = f"{ptr}/prefixItems/{i}" if i < len(pa) else f"{ptr}/items"
            self.sub(sa, sb, where, f"{inst}[{i}]")
            if self._deref(sa, self.a_root) is False:
                return
        if isinstance(max_a, int) and max_a <= limit:
            return
        self.sub(ia, ib, f"{ptr}/items", f"{inst}[]")
        cb = (b.get("contains"), b.get("minContains"), b.get("maxContains"))
        ca = (a.get("contains"), a.get("minContains"), a.get("maxContains"))
        if cb[0] is not None and not _same(ca, cb):
            self.emit(
                "CONTAINS_UNDECIDED",
                f"{ptr}/contains",
                self.old_new(ca[0], cb[0]),
                f"contains changed: cannot decide whether {self.who} still pass",
                undecided=True,
            )

    # -- objects -------------------------------------------------------------------------

    def _objects(self, a: dict[str, Any], b: dict[str, Any], ptr: str, inst: str) -> None:
        req_a = set(a.get("required", []))
        for name in b.get("required", []):
            if name in req_a:
                continue
            self.emit(
                self.code("REQUIRED_ADDED", "REQUIRED_REMOVED"),
                f"{ptr}/required",
                _show(name),
                f"{self.who} without {_name(_join(inst, name))} {self.fate}",
            )
        self._bounds(
            a, b, ptr, inst, ("minProperties",), lower=True, ints=True, what="property count of "
        )
        self._bounds(
            a, b, ptr, inst, ("maxProperties",), lower=False, ints=True, what="property count of "
        )
        props_a = a.get("properties", {}) if isinstance(a.get("properties"), dict) else {}
        props_b = b.get("properties", {}) if isinstance(b.get("properties"), dict) else {}
        for name in sorted(set(props_a) | set(props_b)):
            sa = self._effective(a, name, self.a_root)
            sb = self._effective(b, name, self.b_root)
            where = f"{ptr}/properties/{_escape(name)}"
            if sa is None or sb is None:
                self.emit(
                    "PATTERN_UNDECIDED",
                    where,
                    "",
                    f"a patternProperties regex cannot be evaluated for {_name(_join(inst, name))}",
                    undecided=True,
                )
                continue
            if self._deref(sb, self.b_root) is False and not _is_empty(
                self._deref(sa, self.a_root)
            ):
                # The property is no longer allowed (closed content model).
                self.emit(
                    self.code("PROPERTY_REMOVED", "PROPERTY_ADDED"),
                    where,
                    _show(name),
                    f"{self.who} with {_name(_join(inst, name))} {self.fate} "
                    "(its content model is closed)",
                )
                continue
            self.sub(sa, sb, where, _join(inst, name))
        self._other_properties(a, b, ptr, inst)
        if "propertyNames" in b and not _same(a.get("propertyNames"), b["propertyNames"]):
            closed = a.get("additionalProperties") is False and not a.get("patternProperties")
            if closed:
                for name in sorted(props_a):
                    if self.valid(b["propertyNames"], name, self.b_root) is False:
                        self.emit(
                            self.code("PROPERTY_NAMES_NARROWED", "PROPERTY_NAMES_WIDENED"),
                            f"{ptr}/propertyNames",
                            _show(name),
                            f"{self.who} with {_name(_join(inst, name))} are rejected by its "
                            "propertyNames",
                        )
            else:
                with self.trial() as found:
                    self.sub(a.get("propertyNames", {"type": "string"}), b["propertyNames"], "", "")
                if found:
                    self.emit(
                        self.code("PROPERTY_NAMES_NARROWED", "PROPERTY_NAMES_WIDENED"),
                        f"{ptr}/propertyNames",
                        self.old_new(a.get("propertyNames"), b["propertyNames"]),
                        f"{self.who} with property names of {_name(inst)} outside the "
                        f"propertyNames of {self.by} {self.fate}",
                    )
        deps_b = b.get("dependentRequired", {})
        deps_a = a.get("dependentRequired", {})
        if isinstance(deps_b, dict):
            for key, needs in sorted(deps_b.items()):
                for need in needs if isinstance(needs, list) else []:
                    if need in req_a or need in deps_a.get(key, []):
                        continue
                    if self._deref(self._effective(a, key, self.a_root), self.a_root) is False:
                        continue
                    self.emit(
                        self.code("DEPENDENT_REQUIRED_ADDED", "DEPENDENT_REQUIRED_REMOVED"),
                        f"{ptr}/dependentRequired/{_escape(key)}",
                        _show(need),
                        f"{self.who} with {_name(_join(inst, key))} but without {need!r} are "
                        "rejected",
                    )
        ds_b = b.get("dependentSchemas", {})
        ds_a = a.get("dependentSchemas", {})
        if isinstance(ds_b, dict):
            for key, schema in sorted(ds_b.items()):
                where = f"{ptr}/dependentSchemas/{_escape(key)}"
                if isinstance(ds_a, dict) and key in ds_a:
                    self.sub(ds_a[key], schema, where, inst)
                else:
                    self.emit(
                        "KEYWORD_UNDECIDED",
                        where,
                        "",
                        f"dependentSchemas[{key!r}] added: qxgen cannot decide whether "
                        f"{self.who} still pass",
                        undecided=True,
                    )

    def _effective(self, schema: dict[str, Any], name: str, root: Any) -> Any:
        """The schema ``name``'s value must satisfy (properties, matching patterns, or the
        additionalProperties); None if a pattern cannot be evaluated."""
        parts: list[Any] = []
        props = schema.get("properties")
        if isinstance(props, dict) and name in props:
            parts.append(props[name])
        patterns = schema.get("patternProperties")
        if isinstance(patterns, dict):
            for pattern, sub in patterns.items():
                try:
                    if re.search(pattern, name):
                        parts.append(sub)
                except re.error:
                    return None
        if not parts:
            return schema.get("additionalProperties", True)
        if len(parts) == 1:
            return parts[0]
        return {"allOf": parts}

    def _other_properties(self, a: dict[str, Any], b: dict[str, Any], ptr: str, inst: str) -> None:
        """Names neither schema lists: patternProperties and additionalProperties."""
        pa: dict[str, Any] = _dict(a.get("patternProperties"))
        pb: dict[str, Any] = _dict(b.get("patternProperties"))
        add_a = a.get("additionalProperties", True)
        add_b = b.get("additionalProperties", True)
        other = _join(inst, "*")
        for pattern, sb in sorted(pb.items()):
            where = f"{ptr}/patternProperties/{_escape(pattern)}"
            if pattern in pa:
                self.sub(pa[pattern], sb, where, _join(inst, f"/{pattern}/"))
                continue
            for q, sq in sorted(pa.items()):
                if not self.clean(sq, sb):
                    self.emit(
                        "PATTERN_UNDECIDED",
                        where,
                        self.old_new(q, pattern),
                        f"cannot decide whether names matching both {q!r} and {pattern!r} "
                        f"still pass",
                        undecided=True,
                    )
            if pa and not self.clean(add_a, sb):
                # Names matching the new pattern may all match old patterns too: regex
                # inclusion is not decided here.
                self.emit(
                    "PATTERN_UNDECIDED",
                    where,
                    self.old_new(sorted(pa), pattern),
                    f"cannot decide which old properties match {pattern!r}",
                    undecided=True,
                )
                continue
            self._additional(add_a, sb, where, _join(inst, f"/{pattern}/"), pattern=True)
        for q, sq in sorted(pa.items()):
            if q in pb:
                continue
            where = f"{ptr}/patternProperties/{_escape(q)}"
            if self._deref(add_b, self.b_root) is False and not _is_empty(
                self._deref(sq, self.a_root)
            ):
                self.emit(
                    self.code("PATTERN_PROPERTY_REMOVED", "PATTERN_PROPERTY_ADDED"),
                    where,
                    _show(q),
                    f"{self.who} with properties matching {q!r} in {_name(inst)} {self.fate}",
                )
            elif not self.clean(sq, add_b):
                self.sub(sq, add_b, where, _join(inst, f"/{q}/"))
        self._additional(add_a, add_b, f"{ptr}/additionalProperties", other, pattern=False)

    def _additional(self, add_a: Any, target: Any, where: str, inst: str, *, pattern: bool) -> None:
        sa = self._deref(add_a, self.a_root)
        sb = self._deref(target, self.b_root)
        if sa is False or _is_empty(sa):
            return
        if sb is False:
            self.emit(
                self.code("ADDITIONAL_PROPERTIES_CLOSED", "ADDITIONAL_PROPERTIES_OPENED")
                if not pattern
                else self.code("PATTERN_PROPERTY_CLOSED", "PATTERN_PROPERTY_OPENED"),
                where,
                self.old_new(add_a, target),
                f"{self.who} with properties not listed in {_name(_parent(inst))} {self.fate}",
            )
            return
        self.sub(add_a, target, where, inst)

    # -- bounds --------------------------------------------------------------------------

    def _bounds(
        self,
        a: dict[str, Any],
        b: dict[str, Any],
        ptr: str,
        inst: str,
        words: tuple[str, ...],
        *,
        lower: bool,
        ints: bool,
        what: str = "",
    ) -> None:
        ba = _bound(a, words, lower=lower, ints=ints)
        bb = _bound(b, words, lower=lower, ints=ints)
        if what and lower and ba is None:  # a length or count is never below 0
            ba = _Bound(Fraction(0), False, words[0], 0)
        if bb is None:
            return
        if ba is not None:
            if lower:
                inside = ba.value > bb.value or (
                    ba.value == bb.value and (ba.exclusive or not bb.exclusive)
                )
            else:
                inside = ba.value < bb.value or (
                    ba.value == bb.value and (ba.exclusive or not bb.exclusive)
                )
            if inside:
                return
        word = _snake(bb.keyword)
        a_raw = a.get(bb.keyword)
        if a_raw is None:
            code = f"{word}_ADDED"
            if self.flipped:
                code = f"{word}_REMOVED"
        else:
            tighter = "INCREASED" if lower else "DECREASED"
            looser = "DECREASED" if lower else "INCREASED"
            code = f"{word}_{looser if self.flipped else tighter}"
        if lower:
            left = "(-∞" if ba is None else ("(" if ba.exclusive else "[") + _num(ba.value)
            right = _num(bb.value) + ("]" if bb.exclusive else ")")
        else:
            left = ("[" if bb.exclusive else "(") + _num(bb.value)
            right = "∞)" if ba is None else _num(ba.value) + (")" if ba.exclusive else "]")
        self.emit(
            code,
            f"{ptr}/{bb.keyword}",
            self.old_new(a_raw, b.get(bb.keyword)),
            f"{self.who} with {what}{_name(inst)} in {left}, {right} {self.fate}",
        )


# -- pure helpers ----------------------------------------------------------------------------


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _pointer_get(root: Any, ref: str) -> Any:
    if not ref.startswith("#"):
        return True  # an unresolved ref: the bundler resolves all of them before we get here
    node = root
    for part in ref[1:].split("/")[1:]:
        key = part.replace("~1", "/").replace("~0", "~")
        try:
            node = node[int(key)] if isinstance(node, list) else node[key]
        except (KeyError, IndexError, ValueError, TypeError):
            return True
    return node


def _assertions(schema: dict[str, Any]) -> bool:
    return any(k not in ANNOTATIONS and not k.startswith("x-") for k in schema)


def _is_empty(schema: Any) -> bool:
    """Provably no instance (false, an empty enum, a contradictory type)."""
    if schema is False:
        return True
    if not isinstance(schema, dict):
        return False
    if isinstance(schema.get("enum"), list) and not schema["enum"]:
        return True
    if "type" in schema and not _types(schema):
        return True
    return schema.get("not") in (True, {})


def _types(schema: dict[str, Any]) -> frozenset[str]:
    raw = schema.get("type")
    if raw is None:
        return ALL_TYPES
    listed = [raw] if isinstance(raw, str) else list(raw)
    return frozenset(t for t in listed if t in ALL_TYPES)


def _type_list(schema: dict[str, Any]) -> Any:
    return schema.get("type", "any")


def _type_covered(t: str, types: frozenset[str]) -> bool:
    return t in types or (t == "integer" and "number" in types)


def _types_meet(ta: frozenset[str], tb: frozenset[str]) -> bool:
    return any(_type_covered(t, tb) or (t == "number" and "integer" in tb) for t in ta)


def _restrict(schema: dict[str, Any], t: str) -> dict[str, Any]:
    return {**schema, "type": t}


def _finite_values(schema: Any) -> list[Any] | None:
    if not isinstance(schema, dict):
        return None
    if "const" in schema:
        return [schema["const"]]
    if isinstance(schema.get("enum"), list):
        return list(schema["enum"])
    types = _types(schema)
    if "type" in schema and types <= {"null", "boolean"}:
        values: list[Any] = []
        if "null" in types:
            values.append(None)
        if "boolean" in types:
            values += [False, True]
        return values
    return None


def _prop_schema(schema: dict[str, Any], name: str) -> Any:
    props = schema.get("properties")
    return props.get(name, True) if isinstance(props, dict) else True


def _same(x: Any, y: Any) -> bool:
    return json.dumps(x, sort_keys=True) == json.dumps(y, sort_keys=True)


def _fraction(value: Any) -> Fraction | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return Fraction(str(value)) if isinstance(value, float) else Fraction(value)


def _bound(
    schema: dict[str, Any], words: tuple[str, ...], *, lower: bool, ints: bool
) -> _Bound | None:
    """The tightest bound among ``words`` (inclusive and exclusive forms)."""
    found: list[_Bound] = []
    for word in words:
        value = _fraction(schema.get(word))
        if value is None:
            continue
        exclusive = word.startswith("exclusive")
        if ints:  # on integers an exclusive bound is the next integer, inclusive
            if lower:
                value = Fraction(math.floor(value) + 1 if exclusive else math.ceil(value))
            else:
                value = Fraction(math.ceil(value) - 1 if exclusive else math.floor(value))
            exclusive = False
        found.append(_Bound(value, exclusive, word, schema[word]))
    if not found:
        return None

    def tightness(bound: _Bound) -> tuple[Fraction, int]:
        sign = 1 if lower else -1
        return (sign * bound.value, 1 if bound.exclusive else 0)

    return max(found, key=tightness)


def _merge_all_of(schema: dict[str, Any], root: Any) -> dict[str, Any] | bool | None:
    """``allOf`` folded into one schema when the keywords combine plainly; False when it is
    provably empty; None when they do not combine (closed content models, two combinators)."""
    merged: Any = {k: v for k, v in schema.items() if k != "allOf"}
    for branch in schema["allOf"]:
        part = branch
        for _ in range(64):
            if isinstance(part, dict) and isinstance(part.get("$ref"), str) and len(part) == 1:
                part = _pointer_get(root, part["$ref"])
            else:
                break
        if part is True or part == {}:
            continue
        if part is False:
            return False
        if not isinstance(part, dict) or "$ref" in part:
            return None
        if "allOf" in part:
            inner = _merge_all_of(part, root)
            if inner is False:
                return False
            if inner is None or inner is True:
                return None
            part = inner
        merged = _merge_two(merged, part)
        if merged is None:
            return None
    if isinstance(merged, dict) and "type" in merged and not _types(merged):
        return False
    return dict(merged)


_LOWER = ("minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties")
_UPPER = ("maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties")
_OPENNESS = ("additionalProperties", "patternProperties", "unevaluatedProperties")


def _merge_two(x: dict[str, Any], y: Any) -> dict[str, Any] | None:
    if y is True:
        return x
    if not isinstance(y, dict) or "$ref" in y or "$ref" in x or "allOf" in y:
        return None
    open_x = any(k in x for k in _OPENNESS) and "properties" in y
    open_y = any(k in y for k in _OPENNESS) and "properties" in x
    if (open_x or open_y) and not _same(x.get("properties"), y.get("properties")):
        return None
    out = dict(x)
    for key, value in y.items():
        if key in ANNOTATIONS or key not in out:
            if key not in ANNOTATIONS:
                out[key] = value
            continue
        if _same(out[key], value):
            continue
        if key == "required":
            out[key] = sorted(set(out[key]) | set(value))
        elif key == "properties" and isinstance(value, dict):
            props = dict(out[key])
            for name, sub in value.items():
                props[name] = {"allOf": [props[name], sub]} if name in props else sub
            out[key] = props
        elif key == "type":
            tx, ty = _types({"type": out[key]}), _types({"type": value})
            meet = {t for t in tx if _type_covered(t, ty)}
            if "number" in tx and "integer" in ty:
                meet.add("integer")
            if "number" in ty and "integer" in tx:
                meet.add("integer")
            out[key] = sorted(meet)
        elif key in _LOWER and _fraction(value) is not None and _fraction(out[key]) is not None:
            out[key] = max(out[key], value)
        elif key in _UPPER and _fraction(value) is not None and _fraction(out[key]) is not None:
            out[key] = min(out[key], value)
        elif key == "enum" and isinstance(value, list):
            out[key] = [v for v in out[key] if any(_same(v, w) for w in value)]
        else:
            return None
    return out


def _parent(inst: str) -> str:
    return inst.rsplit(".", 1)[0] if "." in inst else ""


def _or(types: list[str]) -> str:
    if len(types) > 3:
        rest = sorted(ALL_TYPES - set(types))
        return "other than " + " or ".join(rest) if rest else "any"
    return " or ".join(types)


def _snake(keyword: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", keyword).upper()


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def _join(inst: str, name: str) -> str:
    return f"{inst}.{name}" if inst else name


def _name(inst: str) -> str:
    return inst or "the payload"


def _num(value: Fraction) -> str:
    return str(value.numerator) if value.denominator == 1 else str(float(value))


def _show(value: Any) -> str:
    if value is None:
        return "none"
    return json.dumps(value, ensure_ascii=False, sort_keys=True)
