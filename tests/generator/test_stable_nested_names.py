"""Nested and shared model names survive adding, removing and reordering other schemas."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from qxgen import load_config, plan, write


def _event(event_type: str, address: dict[str, Any], shared: bool = False) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "address": address,
        "status": {"enum": ["new", "done"]},
        "items": {"type": "array", "items": {"type": "object", "properties": {"n": {}}}},
    }
    if shared:
        properties["money"] = {"$ref": "shared/money.json"}
    return {
        "x-qx-event": {"type": event_type, "version": 1},
        "type": "object",
        "properties": properties,
    }


def _generate(project: Path) -> None:
    config = load_config(project, schemas=project / "schemas", package="svc", out=project)
    write(plan(config), config.out)


def _field_types(project: Path, event: str) -> dict[str, str]:
    source = (project / "svc" / "integration" / "events.py").read_text()
    body = source.split(f"class {event}(", 1)[1].split("\nclass ", 1)[0]
    return dict(re.findall(r"^    (\w+): (.+?)(?: = .*)?$", body, flags=re.MULTILINE))


def test_adding_an_event_before_it_never_renames_nested_models(tmp_path: Path) -> None:
    schemas = tmp_path / "schemas"
    (schemas / "shared").mkdir(parents=True)
    (schemas / "shared" / "money.json").write_text(
        json.dumps({"type": "object", "properties": {"cents": {"type": "integer"}}})
    )
    street = {"type": "object", "properties": {"street": {"type": "string"}}}
    (schemas / "zeta.json").write_text(json.dumps(_event("shop.zeta.happened", street, True)))
    _generate(tmp_path)
    before = _field_types(tmp_path, "ZetaHappenedV1")
    assert before["address"] == "Address | None"
    assert before["status"] == "Status | None"
    assert before["money"] == "Money | None"

    # A newcomer sorting first, with its own inline "address" and "status" and another
    # shared file whose stem is also "money".
    (schemas / "other").mkdir()
    (schemas / "other" / "money.json").write_text(json.dumps({"type": "string"}))
    city = {"type": "object", "properties": {"city": {"type": "integer"}}}
    newcomer = _event("shop.alpha.happened", city)
    newcomer["properties"]["cash"] = {"$ref": "other/money.json"}
    newcomer["properties"]["status"] = {"enum": ["a", "b", "c"]}
    (schemas / "alpha.json").write_text(json.dumps(newcomer))
    _generate(tmp_path)
    assert _field_types(tmp_path, "ZetaHappenedV1") == before
    alpha = _field_types(tmp_path, "AlphaHappenedV1")
    assert alpha["address"] != before["address"]
    assert alpha["status"] != before["status"]
    manifest = json.loads((tmp_path / "svc" / "integration" / "qxgen-manifest.json").read_text())
    assert manifest["models"]["ZetaHappenedV1/properties/address"] == "Address"
    assert manifest["definitions"]["shared/money.json#"] == "Money"

    # Removing the newcomer again leaves the first event's names alone too.
    (schemas / "alpha.json").unlink()
    _generate(tmp_path)
    assert _field_types(tmp_path, "ZetaHappenedV1") == before
