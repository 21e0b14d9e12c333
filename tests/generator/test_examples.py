"""The committed example service is generated from the repository's schemas/ and up to date."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.generator.conftest import REPO, copy_tree, lint_and_typecheck, run_tool

EXAMPLE = REPO / "examples" / "shop_service"


def test_generate_check_passes_on_the_example_service() -> None:
    result = run_tool("qxgen", "generate", "--check", cwd=EXAMPLE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_example_service_passes_ruff_and_mypy_strict(tmp_path: Path) -> None:
    copy_tree(EXAMPLE / "shop_service", tmp_path / "shop_service")
    lint_and_typecheck(tmp_path, ["shop_service"])


def test_every_schema_example_is_accepted_by_the_example_registry(on_path: list[Path]) -> None:
    sys.path.insert(0, str(EXAMPLE))
    on_path.append(EXAMPLE)
    from shop_service.integration.registry import EVENTS, build_registry  # type: ignore[import-not-found]

    registry = build_registry()
    examples = 0
    for path in sorted((REPO / "schemas").rglob("*.json")):
        schema = json.loads(path.read_text())
        marker = schema.get("x-qx-event")
        if marker is None:
            continue
        for example in schema.get("examples", []):
            event = registry.build(marker["type"], marker["version"], example)
            assert event.to_json_data() == example
            examples += 1
    assert examples == len(EVENTS)
