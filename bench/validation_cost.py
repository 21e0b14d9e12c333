"""What raw-payload validation costs per message, next to pydantic alone.

Uses the committed example service (``examples/shop_service``) and the examples in
``schemas/``: for each event, the time of ``registry.build()`` with ``validate_payloads`` on
(jsonschema against the bundled schema, then pydantic) and off (pydantic only).
Run: ``.venv/bin/python bench/validation_cost.py``.
"""

from __future__ import annotations

import json
import sys
import timeit
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "examples" / "shop_service"))

from shop_service.integration.registry import build_registry  # noqa: E402

from qx.events import EventRegistry  # noqa: E402

ROUNDS = 2000


def _per_call_us(registry: EventRegistry, kind: str, version: int, data: object) -> float:
    best = min(timeit.repeat(lambda: registry.build(kind, version, data), number=ROUNDS, repeat=3))
    return best / ROUNDS * 1e6


def main() -> None:
    validating = build_registry(validate_payloads=True)
    plain = build_registry(validate_payloads=False)
    print(f"{'event':<34} {'pydantic only':>14} {'schema+pydantic':>16} {'overhead':>9}")
    total_plain = total_full = 0.0
    count = 0
    for path in sorted((REPO / "schemas").rglob("*.json")):
        schema = json.loads(path.read_text())
        marker = schema.get("x-qx-event")
        if not marker:
            continue
        example = schema["examples"][0]
        kind, version = marker["type"], marker["version"]
        plain_us = _per_call_us(plain, kind, version, example)
        full_us = _per_call_us(validating, kind, version, example)
        total_plain += plain_us
        total_full += full_us
        count += 1
        print(
            f"{kind + ' v' + str(version):<34} {plain_us:>11.1f} us {full_us:>13.1f} us"
            f" {full_us / plain_us:>8.1f}x"
        )
    print(
        f"{'mean':<34} {total_plain / count:>11.1f} us {total_full / count:>13.1f} us"
        f" {total_full / total_plain:>8.1f}x"
    )


if __name__ == "__main__":
    main()
