"""How long qxgen takes for 200 synthetic event schemas (target: under 10 s on this machine).

Each event has a dozen properties (formats, enums, nested objects, arrays) and refs into a few
shared definition files, so the bundler and datamodel-code-generator both do real work.
Run: ``.venv/bin/python bench/generator_bench.py [N]``.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

from qxgen import load_config, plan, write

SHARED = {
    "money.json": {
        "type": "object",
        "properties": {
            "amount": {"type": "string", "pattern": "^[0-9]+(\\.[0-9]{1,2})?$"},
            "currency": {"type": "string", "enum": ["EUR", "USD", "GBP"]},
        },
        "required": ["amount", "currency"],
        "additionalProperties": False,
    },
    "address.json": {
        "type": "object",
        "properties": {
            "street": {"type": "string"},
            "city": {"type": "string"},
            "country": {"type": "string", "pattern": "^[A-Z]{2}$"},
        },
        "required": ["street", "city", "country"],
    },
}


def event_schema(i: int) -> dict[str, object]:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "description": f"Synthetic event number {i}.",
        "x-qx-event": {"type": f"bench.domain{i % 10}.thing{i}", "version": 1 + i % 2},
        "type": "object",
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "at": {"type": "string", "format": "date-time"},
            "email": {"type": "string", "format": "email"},
            "status": {"type": "string", "enum": ["new", "active", f"state{i}"]},
            "count": {"type": "integer", "minimum": 0},
            "ratio": {"type": "number", "maximum": 1},
            "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
            "note": {"type": ["string", "null"]},
            "price": {"$ref": "../shared/money.json"},
            "ship_to": {"$ref": "../shared/address.json"},
            "lines": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"sku": {"type": "string"}, "qty": {"type": "integer"}},
                    "required": ["sku", "qty"],
                },
            },
            "meta": {"type": "object", "additionalProperties": {"type": "string"}},
        },
        "required": ["id", "at", "status"],
        "additionalProperties": False,
    }


def main(count: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name, schema in SHARED.items():
            path = root / "schemas" / "shared" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(schema))
        for i in range(count):
            path = root / "schemas" / "events" / f"event_{i:03d}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(event_schema(i)))
        config = load_config(root, schemas=root / "schemas", package="bench_svc", out=root)
        started = time.perf_counter()
        result = plan(config)
        planned = time.perf_counter()
        write(result, config.out)
        done = time.perf_counter()
    total = done - started
    print(f"{count} event schemas -> {len(result.files)} files")
    print(f"plan (load, bundle, datamodel-code-generator, render): {planned - started:.2f} s")
    print(f"write: {done - planned:.2f} s")
    print(f"total: {total:.2f} s ({total / count * 1000:.1f} ms per schema)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
