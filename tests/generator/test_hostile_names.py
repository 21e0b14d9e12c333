"""Property-based: odd or hostile schema text never breaks or injects into generated code.

Property names, titles, descriptions and enum values are drawn from keywords, builtins,
pydantic/IntegrationEvent attribute names, quotes, newlines, code and arbitrary Unicode. For
each schema the generated package must compile and import, and a payload using every property
must pass through the registry and come back unchanged from ``to_json_data()``. (ruff and
mypy --strict run on the hostile golden case, not on each example: too slow per example.)
"""

from __future__ import annotations

import importlib
import itertools
import json
import keyword
import sys
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qxgen import load_config, plan, write

NASTY = [
    *keyword.kwlist,
    *keyword.softkwlist,
    "list", "dict", "str", "int", "type", "id", "object", "self", "cls", "print", "date",
    "datetime", "UUID", "Any", "Field", "BaseModel", "ClassVar", "Annotated", "Literal",
    "model_config", "model_fields", "model_dump", "model_validate", "to_json_data", "json",
    "schema", "copy", "validate", "__qx_type__", "__init__", "__class__", "_", "__", "_x",
    "", " ", "1", "1abc", "a-b", "a_b", "a b", "A", "a", 'q"uote', "q'uote", '"""', "'''",
    "new\nline", "tab\tbed", "back\\slash", "x = 1; import os", "os.system('rm -rf /')",
    "}}{{", "{% raw %}", "naïve", "日本語", "😀", "Ω", "\u200b",
    "\ufb01", "fi", "fi_", "\u210c", "H",
]  # fmt: skip

names = st.one_of(
    st.sampled_from(NASTY),
    st.text(st.characters(exclude_categories=("Cs",)), max_size=8),
)
text = st.one_of(st.sampled_from(NASTY), st.text(st.characters(exclude_categories=("Cs",))))
kinds = st.sampled_from(["string", "integer", "boolean", "array", "object", "enum", "nullable"])

_counter = itertools.count()


def _property(kind: str, enum_values: list[str], inner: str) -> tuple[dict[str, Any], Any]:
    if kind == "string":
        return {"type": "string"}, "v"
    if kind == "integer":
        return {"type": "integer", "minimum": 0}, 1
    if kind == "boolean":
        return {"type": "boolean"}, True
    if kind == "array":
        return {"type": "array", "items": {"type": "string"}}, ["a"]
    if kind == "object":
        return {"type": "object", "properties": {inner: {"type": "string"}}}, {inner: "x"}
    if kind == "enum":
        return {"type": "string", "enum": enum_values}, enum_values[0]
    return {"type": ["string", "null"]}, None


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    properties=st.dictionaries(names, kinds, min_size=1, max_size=8),
    enum_values=st.lists(text, min_size=1, max_size=4, unique=True),
    inner=names,
    title=text,
    description=text,
)
def test_hostile_schema_text_never_breaks_generated_code(
    tmp_path_factory: Any,
    properties: dict[str, str],
    enum_values: list[str],
    inner: str,
    title: str,
    description: str,
) -> None:
    work: Path = tmp_path_factory.mktemp("hostile")
    schema_props: dict[str, Any] = {}
    payload: dict[str, Any] = {}
    for name, kind in properties.items():
        schema_props[name], payload[name] = _property(kind, enum_values, inner)
        schema_props[name]["description"] = description
        schema_props[name]["title"] = title
    event = {
        "title": title,
        "description": description,
        "x-qx-event": {"type": "hostile.case.happened", "version": 1},
        "type": "object",
        "properties": schema_props,
        "required": sorted(properties)[:1],
    }
    (work / "schemas").mkdir()
    (work / "schemas" / "event.json").write_text(json.dumps(event))
    package = f"hostile_{next(_counter)}"
    config = load_config(work, schemas=work / "schemas", package=package, out=work / "out")
    result = plan(config)
    for file in result.files:
        if file.path.endswith(".py"):
            compile(file.content, file.path, "exec")
    write(result, config.out)

    sys.path.insert(0, str(config.out))
    try:
        registry_module = importlib.import_module(f"{package}.integration.registry")
        importlib.import_module(f"{package}.worker")
        registry = registry_module.build_registry()
        built = registry.build("hostile.case.happened", 1, payload)
        assert built.to_json_data() == payload
    finally:
        sys.path.remove(str(config.out))
        for module in [m for m in sys.modules if m == package or m.startswith(package + ".")]:
            del sys.modules[module]
