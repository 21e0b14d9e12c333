"""Differential: the generated registry (validator + model) accepts exactly what ``jsonschema``
accepts, in both directions.

* every golden case: its examples and mutants of them (a property removed, or replaced by
  ``null``, ``true``, ``1.5``, ``10**400``, ``[]``, ``{}``; an unknown property added);
* hypothesis: random event schemas (nested objects, nullable types, ``allOf`` narrowing,
  ``anyOf``/``oneOf`` roots and properties, ``unevaluatedProperties``, arrays, enums, bounds)
  with random instances.

Mutants never put arbitrary strings where a ``format`` applies: the pure-Python oracle checks
only a few formats without optional dependencies, so a difference there would be between the
two validators, not a model stricter than the schema.
"""

from __future__ import annotations

import importlib
import itertools
import json
import sys
from pathlib import Path
from typing import Any

import jsonschema
import jsonschema.validators
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qxgen import load_config, plan, write
from tests.generator.conftest import GOLDEN

CASES = sorted(
    p.name for p in GOLDEN.iterdir() if (p / "schemas").is_dir() and not p.name.startswith("error_")
)
_REPLACEMENTS: list[Any] = [None, True, 1.5, 10**400, [], {}]


def _oracle(schema: dict[str, Any]) -> Any:
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def _verdict(registry: Any, event: tuple[str, int], data: Any) -> tuple[bool, Any]:
    try:
        return True, registry.build(*event, data)
    except Exception as exc:  # any failure means the worker would not accept the message
        return False, exc


def _mutants(example: Any) -> list[Any]:
    if not isinstance(example, dict):
        return []
    out: list[Any] = [{**example, "zz_unknown": 1}]
    for key in example:
        out.append({k: v for k, v in example.items() if k != key})
        out.extend({**example, key: value} for value in _REPLACEMENTS)
    return out


def _check(registry: Any, event: tuple[str, int], oracle: Any, data: Any) -> str | None:
    try:
        expected = oracle.is_valid(data)
    except OverflowError:  # jsonschema's multipleOf on 10**400; no verdict to compare with
        return None
    accepted, result = _verdict(registry, event, data)
    if accepted != expected:
        return f"{event} {json.dumps(data)[:300]}: jsonschema={expected}, runtime: {result}"
    if accepted and result.to_json_data() != data:
        return f"{event} {json.dumps(data)[:300]}: round-trips as {result.to_json_data()}"
    return None


@pytest.mark.parametrize("case", CASES)
def test_golden_examples_and_mutants_get_the_jsonschema_verdict(
    case: str, on_path: list[Path]
) -> None:
    out = GOLDEN / case / "expected"
    package = f"golden_{case}"
    sys.path.insert(0, str(out))
    on_path.append(out)
    module = importlib.import_module(f"{package}.integration.registry")
    registry = module.build_registry()
    checked, problems = 0, []
    for cls, schema_file in module.EVENTS:
        schema = json.loads(
            (out / package / "integration" / "event_schemas" / schema_file).read_text()
        )
        oracle = _oracle(schema)
        event = (cls.__qx_type__, cls.__qx_version__)
        for example in schema.get("examples", []):
            for data in [example, *_mutants(example)]:
                checked += 1
                problem = _check(registry, event, oracle, data)
                if problem:
                    problems.append(problem)
    assert checked >= 10
    assert not problems, "\n".join(problems[:20])


# -- hypothesis: random schemas and instances --------------------------------------------------

_NAMES = ["a", "b", "c"]
_SCALARS = st.sampled_from([None, True, False, 0, 1, 1.0, -1, 2, 1.5, 10**400, "x", "", "ab"])


def _leaf() -> st.SearchStrategy[dict[str, Any]]:
    simple = st.sampled_from(
        [
            {"type": "string"},
            {"type": "string", "minLength": 1},
            {"type": "integer"},
            {"type": "integer", "minimum": 0},
            {"type": "number"},
            {"type": "number", "exclusiveMaximum": 2},
            {"type": "boolean"},
            {"type": "null"},
            {"type": ["string", "null"]},
            {"type": ["integer", "string"]},
            {"enum": ["x", "ab", 1]},
            {"const": "x"},
            {"type": "string", "enum": ["x", "ab"]},
            {},
        ]
    )
    return simple


def _schema(children: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    obj = st.builds(
        lambda props, required, extra: {
            "type": "object",
            "properties": props,
            **({"required": sorted(required & set(props))} if required & set(props) else {}),
            **extra,
        },
        st.dictionaries(st.sampled_from(_NAMES), children, max_size=3),
        st.sets(st.sampled_from(_NAMES)),
        st.sampled_from(
            [{}, {"additionalProperties": False}, {"additionalProperties": {"type": "integer"}}]
        ),
    )
    pair = st.lists(obj, min_size=2, max_size=2)
    return st.one_of(
        obj,
        st.builds(lambda items: {"type": "array", "items": items}, children),
        st.builds(lambda parts: {"allOf": parts}, pair),
        st.builds(lambda parts: {"anyOf": parts}, pair),
        st.builds(lambda parts: {"oneOf": parts}, pair),
        st.builds(lambda s: {"allOf": [s, {"type": "null"}]}, children),
        st.builds(
            lambda parts: {"allOf": parts, "unevaluatedProperties": False},
            pair,
        ),
    )


_SCHEMAS = st.recursive(_leaf(), _schema, max_leaves=6)


# Roots with mostly flat properties: deep nesting makes a mostly-valid instance rare.
def _object_root(schema: dict[str, Any]) -> bool:
    """An event payload is an object: roots are objects or applicators over objects."""
    parts = schema.get("allOf") or schema.get("anyOf") or schema.get("oneOf") or [schema]
    return all(isinstance(p, dict) and p.get("type") == "object" for p in parts)


_ROOTS = _schema(st.one_of(_leaf(), _leaf(), _SCHEMAS)).filter(_object_root)
_INSTANCES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=2),
        st.dictionaries(st.sampled_from([*_NAMES, "d"]), inner, max_size=3),
    ),
    max_leaves=8,
)
_BY_TYPE: dict[str, list[Any]] = {
    "string": ["x", "", "ab"],
    "integer": [0, 1, -1, 2, 1.0, 10**400],
    "number": [0, 1.5, 2, -1, 10**400],
    "boolean": [True, False],
    "null": [None],
}


def _near(schema: Any) -> st.SearchStrategy[Any]:
    """Instances shaped after ``schema`` (mostly valid), with a wrong value now and then."""
    main = _shaped(schema)
    return st.one_of(main, main, main, _SCALARS)


def _shaped(schema: Any) -> st.SearchStrategy[Any]:
    if not isinstance(schema, dict) or not schema:
        return _INSTANCES
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if "allOf" in schema:
        parts = [_near(p) for p in schema["allOf"]]
        return st.tuples(*parts).map(
            lambda values: (
                {k: v for d in values if isinstance(d, dict) for k, v in d.items()}
                if all(isinstance(d, dict) for d in values)
                else values[0]
            )
        )
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return st.one_of([_near(p) for p in schema[key]])
    kinds = schema.get("type")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    options: list[st.SearchStrategy[Any]] = []
    for kind in kinds:
        if kind == "object":
            props = schema.get("properties", {})
            required = [n for n in schema.get("required", []) if n in props]
            options.append(
                st.fixed_dictionaries(
                    {n: _near(props[n]) for n in required},
                    optional={
                        **{n: _near(v) for n, v in props.items() if n not in required},
                        "d": _SCALARS,
                    },
                )
            )
        elif kind == "array":
            options.append(st.lists(_near(schema.get("items", {})), max_size=2))
        elif kind in _BY_TYPE:
            options.append(st.sampled_from(_BY_TYPE[kind]))
    return st.one_of(options) if options else _INSTANCES


_counter = itertools.count()


def _generate(schemas: list[dict[str, Any]], workdir: Path) -> Any:
    package = f"differential_{next(_counter)}"
    project = workdir / package
    (project / "schemas").mkdir(parents=True)
    for index, schema in enumerate(schemas):
        body = {"x-qx-event": {"type": f"random.event{index}", "version": 1}, **schema}
        (project / "schemas" / f"event_{index}.json").write_text(json.dumps(body))
    config = load_config(project, schemas=project / "schemas", package=package, out=project)
    write(plan(config), config.out)
    sys.path.insert(0, str(project))
    try:
        return importlib.import_module(f"{package}.integration.registry").build_registry()
    finally:
        sys.path.remove(str(project))


@pytest.mark.timeout(600)  # each example generates and imports a package; slow when shared
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(schemas=st.lists(_ROOTS, min_size=4, max_size=4), data=st.data())
def test_random_schemas_and_instances_get_the_jsonschema_verdict(
    schemas: list[dict[str, Any]], data: st.DataObject, tmp_path_factory: pytest.TempPathFactory
) -> None:
    registry = _generate(schemas, tmp_path_factory.mktemp("differential"))
    problems = []
    for index, schema in enumerate(schemas):
        oracle = _oracle({"$schema": "https://json-schema.org/draft/2020-12/schema", **schema})
        instances = data.draw(st.lists(_near(schema), min_size=60, max_size=60))
        for instance in instances:
            problem = _check(registry, (f"random.event{index}", 1), oracle, instance)
            if problem:
                problems.append(f"schema {json.dumps(schema)}: {problem}")
    assert not problems, "\n".join(problems[:10])
