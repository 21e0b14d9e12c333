"""The checker's verdicts cross-checked against instances: whenever it proves ``old ⊆ new``
(backward compatible, nothing undecided), no instance valid under the old schema may be
rejected by the new one. Instances are drawn from the old schema (``instances`` below, near
its bounds) and from a fixed pool of awkward values; only those the runtime's validator
(jsonschema-rs) accepts under the old schema count.

``instances`` is hand-rolled: hypothesis-jsonschema 0.23 fails on object schemas with the
hypothesis release this project uses (``'many' object has no attribute 'more'``)."""

from __future__ import annotations

import copy
from typing import Any

import jsonschema_rs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qxgen.compat import compare

KEYS = ["a", "b", "c"]
SMALL = st.integers(min_value=-3, max_value=3)
POOL: list[Any] = [
    None, True, False, 0, 1, -1, 2, 3, -3, 4, 0.5, 1.5, -2.5, 100, "", "a", "b", "ab", "abcd",
    [], [0], [1, 1], [0, 1, 2], ["a"], [None], {}, {"a": 1}, {"a": "a"}, {"b": 0},
    {"a": 1, "b": 2}, {"c": None}, {"a": [1]}, {"a": {"a": 1}}, {"z": 1},
]  # fmt: skip


def leaves() -> st.SearchStrategy[dict[str, Any]]:
    integer = st.fixed_dictionaries(
        {"type": st.just("integer")},
        optional={"minimum": SMALL, "maximum": SMALL, "multipleOf": st.sampled_from([1, 2, 3])},
    )
    number = st.fixed_dictionaries(
        {"type": st.just("number")},
        optional={"exclusiveMinimum": SMALL, "maximum": SMALL},
    )
    string = st.fixed_dictionaries(
        {"type": st.sampled_from(["string", ["string", "null"]])},
        optional={"minLength": st.integers(0, 3), "maxLength": st.integers(0, 3)},
    )
    enum = st.lists(
        st.sampled_from([None, True, 0, 1, 2, "a", "b"]), min_size=1, max_size=3, unique=True
    ).map(lambda v: {"enum": v})
    other = st.sampled_from([{"type": "boolean"}, {"type": "null"}, {}, {"const": "a"}])
    return st.one_of(integer, number, string, enum, other)


def extend(children: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    obj = st.builds(
        lambda props, required, closed: {
            "type": "object",
            "properties": props,
            "required": sorted(set(required) & set(props)),
            **({"additionalProperties": False} if closed else {}),
        },
        st.dictionaries(st.sampled_from(KEYS), children, max_size=3),
        st.lists(st.sampled_from(KEYS), max_size=2, unique=True),
        st.booleans(),
    )
    arr = st.fixed_dictionaries(
        {"type": st.just("array"), "items": children},
        optional={
            "minItems": st.integers(0, 2),
            "maxItems": st.integers(0, 3),
            "uniqueItems": st.booleans(),
        },
    )
    anyof = st.lists(children, min_size=1, max_size=3).map(lambda v: {"anyOf": v})
    allof = st.lists(children, min_size=1, max_size=2).map(lambda v: {"allOf": v})
    return st.one_of(obj, arr, anyof, allof)


SCHEMAS = st.recursive(leaves(), extend, max_leaves=6)


def mutate(draw: st.DrawFn, schema: dict[str, Any]) -> dict[str, Any]:
    """A nearby schema: most edits are small, so compatible pairs are frequent."""
    new = copy.deepcopy(schema)
    for _ in range(draw(st.integers(1, 3))):
        targets = [new]
        stack = [new]
        while stack:
            node = stack.pop()
            kids: list[Any] = [node.get("items")]
            kids += list(node.get("properties", {}).values())
            kids += node.get("anyOf", []) + node.get("allOf", [])
            for kid in kids:
                if isinstance(kid, dict):
                    targets.append(kid)
                    stack.append(kid)
        node = draw(st.sampled_from(targets))
        action = draw(
            st.sampled_from(["drop", "bound", "required", "closed", "enum", "type", "wrap"])
        )
        if action == "drop" and node:
            node.pop(draw(st.sampled_from(sorted(node))))
        elif action == "bound":
            node[
                draw(st.sampled_from(["minimum", "maximum", "minLength", "maxLength", "maxItems"]))
            ] = draw(st.integers(0, 3))
        elif action == "required" and isinstance(node.get("properties"), dict):
            node["required"] = sorted(set(draw(st.lists(st.sampled_from(KEYS), max_size=3))))
        elif action == "closed" and node.get("type") == "object":
            node["additionalProperties"] = draw(st.booleans())
        elif action == "enum":
            node["enum"] = draw(
                st.lists(
                    st.sampled_from([None, 0, 1, "a", "b"]), min_size=1, max_size=3, unique=True
                )
            )
        elif action == "type":
            node["type"] = draw(
                st.sampled_from(["integer", "number", "string", ["string", "null"], "object"])
            )
        elif action == "wrap":
            inner = dict(node)
            node.clear()
            node["anyOf"] = [inner, draw(leaves())]
    return new


@st.composite
def pairs(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    old = draw(SCHEMAS)
    new = mutate(draw, old) if draw(st.integers(0, 9)) else draw(SCHEMAS)
    return old, new


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.sampled_from(["", "a", "ab"]),
    lambda kids: (
        st.lists(kids, max_size=2) | st.dictionaries(st.sampled_from(KEYS), kids, max_size=2)
    ),
    max_leaves=4,
)


def instances(schema: Any) -> st.SearchStrategy[Any]:
    """Values shaped by ``schema`` (not all valid: the caller filters with the validator)."""
    if not isinstance(schema, dict) or not schema:
        return JSON
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if "anyOf" in schema:
        return st.one_of([instances(branch) for branch in schema["anyOf"]])
    if "allOf" in schema:
        return instances(schema["allOf"][0])
    types = schema.get("type")
    if types is None:
        return JSON
    listed = [types] if isinstance(types, str) else types
    return st.one_of([_typed(schema, t) for t in listed])


def _typed(schema: dict[str, Any], t: str) -> st.SearchStrategy[Any]:
    low = schema.get("minimum", schema.get("exclusiveMinimum", -4)) - 2
    high = max(low, schema.get("maximum", 4) + 2)
    if t == "integer":
        return st.integers(low, high)
    if t == "number":
        return st.integers(low, high) | st.sampled_from([low + 0.5, high - 0.5, 0.25])
    if t == "string":
        shortest = max(0, schema.get("minLength", 0) - 1)
        longest = max(shortest, schema.get("maxLength", 3) + 1)
        return st.text("ab", min_size=shortest, max_size=longest)
    if t == "null":
        return st.none()
    if t == "boolean":
        return st.booleans()
    if t == "array":
        return st.lists(instances(schema.get("items", {})), max_size=schema.get("maxItems", 3) + 1)
    props = schema.get("properties", {})
    required = set(schema.get("required", []))
    extra = {} if schema.get("additionalProperties") is False else {"z": JSON}
    return st.fixed_dictionaries(
        {k: instances(v) for k, v in props.items() if k in required},
        optional={**{k: instances(v) for k, v in props.items() if k not in required}, **extra},
    )


def _validator(schema: dict[str, Any]) -> Any:
    return jsonschema_rs.validator_for(schema, validate_formats=True)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(pair=pairs(), data=st.data())
def test_proven_backward_compatibility_survives_sampling(
    pair: tuple[dict[str, Any], dict[str, Any]], data: st.DataObject
) -> None:
    old, new = pair
    comparison = compare(old, new)
    if not comparison.proven("backward"):
        return
    old_v, new_v = _validator(old), _validator(new)
    sampled = [v for v in POOL if old_v.is_valid(v)]
    drawn = data.draw(st.lists(instances(old), min_size=1, max_size=8))
    sampled += [v for v in drawn if old_v.is_valid(v)]
    for instance in sampled:
        assert old_v.is_valid(instance)
        assert new_v.is_valid(instance), (
            f"said backward compatible, but {instance!r} (valid under old) is rejected by new"
        )


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(pair=pairs())
def test_proven_forward_compatibility_survives_the_pool(
    pair: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    old, new = pair
    if not compare(old, new).proven("forward"):
        return
    old_v, new_v = _validator(old), _validator(new)
    for instance in POOL:
        if new_v.is_valid(instance):
            assert old_v.is_valid(instance), f"said forward compatible, but {instance!r} breaks"
