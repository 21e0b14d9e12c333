"""What raw-payload validation costs per message, next to pydantic alone.

Uses the committed example service (``examples/shop_service``) and the examples in
``schemas/``. Per event, the time of:

* ``registry.build()`` with ``validate_payloads=False``: pydantic only;
* ``registry.build()`` with ``validate_payloads=True``: the runtime's validator
  (jsonschema-rs against the bundled schema), then pydantic;
* for reference, the pure-Python ``jsonschema`` validator on the same schema, then pydantic.

Run: ``.venv/bin/python bench/validation_cost.py``.
"""

from __future__ import annotations

import json
import sys
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema

from qx.events import EventRegistry, IntegrationEvent

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "shop_service"
sys.path.insert(0, str(EXAMPLE))

from shop_service.integration.registry import EVENTS, build_registry  # noqa: E402

ROUNDS = 2000


def _per_call_us(call: Callable[[], object]) -> float:
    return min(timeit.repeat(call, number=ROUNDS, repeat=5)) / ROUNDS * 1e6


def _measure(
    plain: EventRegistry,
    validating: EventRegistry,
    cls: type[IntegrationEvent],
    schema: dict[str, Any],
) -> list[float]:
    example = schema["examples"][0]
    kind, version = cls.__qx_type__, cls.__qx_version__
    checker = jsonschema.Draft202012Validator.FORMAT_CHECKER
    python_validator = jsonschema.Draft202012Validator(schema, format_checker=checker)

    def python_path() -> object:
        if not python_validator.is_valid(example):
            raise ValueError("invalid")
        return cls.model_validate(example)

    return [
        _per_call_us(lambda: plain.build(kind, version, example)),
        _per_call_us(lambda: validating.build(kind, version, example)),
        _per_call_us(python_path),
    ]


def main() -> None:
    validating = build_registry(validate_payloads=True)
    plain = build_registry(validate_payloads=False)
    schemas_dir = EXAMPLE / "shop_service" / "integration" / "event_schemas"
    header = f"{'event':<32} {'pydantic':>9} {'rs+pydantic':>12} {'py+pydantic':>12}"
    print(header + "   (microseconds per message)")
    totals = [0.0, 0.0, 0.0]
    for cls, schema_file in EVENTS:
        schema = json.loads((schemas_dir / schema_file).read_text())
        times = _measure(plain, validating, cls, schema)
        totals = [t + x for t, x in zip(totals, times, strict=True)]
        label = f"{cls.__qx_type__} v{cls.__qx_version__}"
        print(f"{label:<32} {times[0]:>9.1f} {times[1]:>12.1f} {times[2]:>12.1f}")
    n = len(EVENTS)
    print(f"{'mean':<32} {totals[0] / n:>9.1f} {totals[1] / n:>12.1f} {totals[2] / n:>12.1f}")


if __name__ == "__main__":
    main()
