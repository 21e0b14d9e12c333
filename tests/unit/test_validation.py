"""Raw-payload validation: exact JSON Schema semantics, clear errors, no remote fetches."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
import referencing

from qx.events import EventRegistry, IntegrationEvent
from qx.events._validation import compile_validator
from qx.exceptions import ConfigurationError, SchemaViolationError, UnknownEventTypeError

SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["kind"],
    "properties": {
        "kind": {"enum": ["a", "b"]},
        "email": {"type": "string", "format": "email"},
        "n": {"type": "integer", "minimum": 0},
    },
    "oneOf": [{"required": ["email"]}, {"required": ["n"]}],
    "additionalProperties": False,
}


class Thing(IntegrationEvent):
    __qx_type__: ClassVar[str] = "things.thing.happened"
    __qx_version__: ClassVar[int] = 1
    kind: str
    email: str | None = None
    n: int | None = None


@pytest.mark.parametrize("engine", ["rs", "py"])
def test_schema_semantics_pydantic_alone_would_miss(engine: str) -> None:
    resources = referencing.Registry() if engine == "py" else None
    validate = compile_validator(SCHEMA, resources)
    validate({"kind": "a", "email": "x@example.com"})
    with pytest.raises(SchemaViolationError, match=r"oneOf|valid under each|more than one"):
        validate({"kind": "a", "email": "x@example.com", "n": 1})  # oneOf exclusivity
    with pytest.raises(SchemaViolationError, match="/email"):
        validate({"kind": "a", "email": "not an email"})  # format asserted
    with pytest.raises(SchemaViolationError) as info:
        validate({"kind": "z", "n": -1, "extra": True})
    assert any(e.startswith("/kind") for e in info.value.errors)
    assert any(e.startswith("/n") for e in info.value.errors)


@pytest.mark.parametrize(
    "schema", [{"type": 12}, {"$ref": "https://example.com/remote.json"}, {"pattern": "("}]
)
def test_unusable_schemas_are_refused_at_registration(schema: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError, match="cannot be compiled"):
        EventRegistry().register(Thing, schema=schema)


def test_registry_builds_validated_events_and_resolves_versions() -> None:
    registry = EventRegistry()
    registry.register(Thing, schema=SCHEMA)
    event = registry.build("things.thing.happened", None, {"kind": "b", "n": 3})
    assert isinstance(event, Thing)
    assert event.n == 3
    with pytest.raises(SchemaViolationError):
        registry.build("things.thing.happened", 1, {"kind": "b"})
    with pytest.raises(UnknownEventTypeError, match="known versions: 1"):
        registry.build("things.thing.happened", 2, {"kind": "b", "n": 1})
    with pytest.raises(UnknownEventTypeError, match="registers no event"):
        registry.build("other.thing", 1, {})
    unvalidated = EventRegistry(validate_payloads=False)
    unvalidated.register(Thing, schema=SCHEMA)
    both = unvalidated.build("things.thing.happened", 1, {"kind": "a", "email": "x@y.z", "n": 1})
    assert isinstance(both, Thing)  # only pydantic ran
