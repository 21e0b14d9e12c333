"""Both realistic collections generate unmodified, lint and type-check clean, and every example
payload gets the same verdict through the generated registry as from ``jsonschema``."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.generator.collections import (
    COLLECTIONS,
    generate,
    load_registry,
    runtime_verdict,
)
from tests.generator.conftest import lint_and_typecheck

NAMES = sorted(p.name for p in COLLECTIONS.iterdir() if (p / "schemas").is_dir())


@pytest.mark.parametrize("name", NAMES)
def test_collection_generates_clean_code(name: str, tmp_path: Path) -> None:
    generated = generate(name, tmp_path / "out")
    lint_and_typecheck(generated.out, [generated.package])


@pytest.mark.parametrize("name", NAMES)
def test_collection_payloads_get_the_jsonschema_verdict(
    name: str, tmp_path: Path, on_path: list[Path]
) -> None:
    generated = generate(name, tmp_path / "out")
    on_path.append(generated.out)
    registry = load_registry(generated)
    assert len(generated.payloads) >= 10
    mismatches = []
    for payload in generated.payloads:
        expected = generated.oracle[payload.schema_rel].is_valid(payload.data)
        assert expected == payload.intended_valid, f"{payload.path}: the oracle disagrees"
        accepted, result = runtime_verdict(registry, payload)
        if accepted != expected:
            mismatches.append(f"{payload.path.name} ({payload.schema_rel}): {result}")
            continue
        if accepted:
            entry = registry.get(*payload.event)
            assert type(result) is entry.cls
            # What the handler gets gives back exactly what was validated (publishable as is).
            assert result.to_json_data() == payload.data, payload.path
            assert entry.cls.model_validate(result.to_json_data()) == result
    assert not mismatches, "\n".join(mismatches)
