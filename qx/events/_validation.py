"""Raw-payload validation against the event's JSON Schema.

pydantic models cannot express all of JSON Schema (oneOf exclusivity, if/then/else, not,
formats, enum on untyped values...). Validating the raw JSON against the schema first makes
the worker accept exactly what the schema accepts; the pydantic model then gives typed access.

Engine: ``jsonschema-rs`` (Rust, ~1 µs for a small event) for self-contained schemas, which is
what qxgen generates; the pure-Python ``jsonschema`` (~55 µs, measured in bench/) when the
caller passes a ``referencing`` registry for schemas with external ``$ref``s. Both assert
``format`` and never fetch remote references.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import jsonschema_rs

from qx.exceptions import ConfigurationError, SchemaViolationError

if TYPE_CHECKING:
    import referencing

PayloadValidator = Callable[[Any], None]

_MAX_REPORTED = 5


def compile_validator(
    schema: Mapping[str, Any], resources: referencing.Registry[Any] | None = None
) -> PayloadValidator:
    """Build a validator for ``schema`` (draft picked from ``$schema``, 2020-12 by default)."""
    if resources is None:
        return _compile_rs(schema)
    return _compile_py(schema, resources)


def _compile_rs(schema: Mapping[str, Any]) -> PayloadValidator:
    try:
        validator = jsonschema_rs.validator_for(dict(schema), validate_formats=True, offline=True)
    except (ValueError, jsonschema_rs.ReferencingError) as exc:
        raise ConfigurationError(f"event schema cannot be compiled: {exc}") from None

    def validate(data: Any) -> None:
        if validator.is_valid(data):
            return
        _raise((list(e.instance_path), e.message) for e in validator.iter_errors(data))

    return validate


def _compile_py(
    schema: Mapping[str, Any], resources: referencing.Registry[Any]
) -> PayloadValidator:
    # Imported here: the pure-Python engine is an optional extra (qx-nats[refs]); generated
    # services bundle self-contained schemas and never need it.
    try:
        import jsonschema
        import jsonschema.validators
    except ImportError:
        raise ConfigurationError(
            "schemas with external $refs need the jsonschema package: pip install 'qx-nats[refs]'"
        ) from None
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    cls.check_schema(dict(schema))
    validator = cls(schema, registry=resources, format_checker=cls.FORMAT_CHECKER)

    def validate(data: Any) -> None:
        if validator.is_valid(data):
            return
        _raise((list(e.absolute_path), e.message) for e in validator.iter_errors(data))

    return validate


def _raise(errors: Iterable[tuple[list[Any], str]]) -> None:
    described = sorted("/" + "/".join(str(p) for p in path) + ": " + msg for path, msg in errors)
    shown = described[:_MAX_REPORTED]
    more = f" (+{len(described) - _MAX_REPORTED} more)" if len(described) > _MAX_REPORTED else ""
    raise SchemaViolationError(
        "payload does not match schema: " + "; ".join(shown) + more, described
    )
