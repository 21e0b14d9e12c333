"""Raw-payload validation against the event's JSON Schema.

pydantic models cannot express all of JSON Schema (oneOf exclusivity, if/then/else, not,
formats, enum on untyped values...). Validating the raw JSON against the schema first makes
the worker accept exactly what the schema accepts; the pydantic model then gives typed access.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import jsonschema
import jsonschema.validators
import referencing

from qx.exceptions import SchemaViolationError

PayloadValidator = Callable[[Any], None]

_MAX_REPORTED = 5


def compile_validator(
    schema: Mapping[str, Any], resources: referencing.Registry[Any] | None = None
) -> PayloadValidator:
    """Build a validator for ``schema`` (draft picked from ``$schema``, 2020-12 by default)."""
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    cls.check_schema(dict(schema))
    kwargs: dict[str, Any] = {"format_checker": cls.FORMAT_CHECKER}
    if resources is not None:
        kwargs["registry"] = resources
    validator = cls(schema, **kwargs)

    def validate(data: Any) -> None:
        # Fast path: is_valid is cheaper than collecting errors on the happy path.
        if validator.is_valid(data):
            return
        errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
        described = [_describe(e) for e in errors[:_MAX_REPORTED]]
        more = f" (+{len(errors) - _MAX_REPORTED} more)" if len(errors) > _MAX_REPORTED else ""
        raise SchemaViolationError(
            "payload does not match schema: " + "; ".join(described) + more, described
        )

    return validate


def _describe(error: jsonschema.ValidationError) -> str:
    pointer = "/" + "/".join(str(p) for p in error.absolute_path)
    return f"{pointer}: {error.message}"
