"""Enums and objects past the model limits are left to the validator, not dropped.

(How long the 100k-value enum and the 30k-property object take is measured in
``bench/generator_big_inputs.py``, not asserted here.)
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import pytest

from qx.exceptions import SchemaViolationError
from qxgen import load_config, plan, write
from qxgen._models import ENUM_LIMIT, PROPERTY_LIMIT


def test_a_huge_enum_and_a_huge_object_generate_and_stay_exact(
    tmp_path: Path, on_path: list[Path]
) -> None:
    schemas = tmp_path / "schemas"
    schemas.mkdir()
    codes = [f"c{i}" for i in range(ENUM_LIMIT + 1)]
    names = [f"p{i}" for i in range(PROPERTY_LIMIT + 1)]
    (schemas / "enum.json").write_text(
        json.dumps(
            {
                "x-qx-event": {"type": "big.enum", "version": 1},
                "type": "object",
                "properties": {"code": {"type": "string", "enum": codes}},
                "required": ["code"],
            }
        )
    )
    (schemas / "props.json").write_text(
        json.dumps(
            {
                "x-qx-event": {"type": "big.props", "version": 1},
                "type": "object",
                "properties": {n: {"type": "integer"} for n in names},
                "required": ["p0"],
                "additionalProperties": False,
            }
        )
    )
    config = load_config(tmp_path, schemas=schemas, package="big", out=tmp_path)
    write(plan(config), config.out)
    source = (tmp_path / "big" / "integration" / "events.py").read_text()
    assert f"more than qxgen's limit of {PROPERTY_LIMIT} fields" in source
    sys.path.insert(0, str(tmp_path))
    on_path.append(tmp_path)
    registry = importlib.import_module("big.integration.registry").build_registry()

    event = registry.build("big.enum", 1, {"code": codes[-1]})
    assert event.to_json_data() == {"code": codes[-1]}
    with pytest.raises(SchemaViolationError):
        registry.build("big.enum", 1, {"code": "not-a-member"})

    payload = {"p0": 1, names[-1]: 2}
    event = registry.build("big.props", 1, payload)
    assert event.to_json_data() == payload
    assert event.model_extra == payload
    for bad in ({"p0": "x"}, {names[-1]: 2}, {"p0": 1, "unknown": 1}):
        with pytest.raises(SchemaViolationError):
            registry.build("big.props", 1, bad)
