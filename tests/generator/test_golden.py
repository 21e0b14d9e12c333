"""Golden end-to-end cases: ``tests/golden/<case>/schemas`` in, ``expected/`` out.

Adding a case is adding a folder with a ``pyproject.toml`` (``[tool.qxgen]`` with
``out = "expected"``) and ``schemas/``; run with ``--update-golden`` to write ``expected/``.
A case named ``error_*`` must be refused: ``expected_stderr.txt`` holds what ``qxgen generate``
prints (exit code 2, nothing written).
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
from pathlib import Path

import pytest

from qxgen import load_config, plan, write
from tests.generator.conftest import GOLDEN, copy_tree, lint_and_typecheck, run_tool

ALL_CASES = sorted(p.name for p in GOLDEN.iterdir() if (p / "schemas").is_dir())
CASES = [c for c in ALL_CASES if not c.startswith("error_")]
ERROR_CASES = [c for c in ALL_CASES if c.startswith("error_")]


def test_there_are_enough_golden_cases() -> None:
    assert len(ALL_CASES) >= 12
    assert len(ERROR_CASES) >= 5


@pytest.mark.parametrize("case", ERROR_CASES)
def test_golden_error_case_is_refused_with_expected_stderr(
    case: str, tmp_path: Path, update_golden: bool
) -> None:
    root = GOLDEN / case
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"}
    result = run_tool("qxgen", "generate", "--out", str(tmp_path / "out"), cwd=root, env=env)
    expected = root / "expected_stderr.txt"
    if update_golden:
        expected.write_text(result.stderr, encoding="utf-8")
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr == expected.read_text(encoding="utf-8")
    assert not (tmp_path / "out").exists(), "a refused generation wrote files"


@pytest.mark.parametrize("case", CASES)
def test_golden_output_matches(case: str, update_golden: bool) -> None:
    root = GOLDEN / case
    config = load_config(root)
    result = plan(config)
    expected_dir = root / "expected"
    if update_golden:
        shutil.rmtree(expected_dir, ignore_errors=True)
        write(result, config.out)
    produced = {f.path: f.content for f in result.files}
    on_disk = {
        p.relative_to(expected_dir).as_posix(): p.read_text(encoding="utf-8")
        for p in expected_dir.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and ".mypy_cache" not in p.parts
    }
    assert sorted(on_disk) == sorted(produced), "expected/ lists other files (--update-golden?)"
    for path, content in produced.items():
        assert on_disk[path] == content, f"{case}/expected/{path} differs (--update-golden?)"


@pytest.mark.parametrize("case", CASES)
def test_golden_package_imports_and_accepts_its_examples(
    case: str, tmp_path: Path, on_path: list[Path]
) -> None:
    """Every schema example builds through the generated registry (validation + model) and
    round-trips to the same JSON."""
    out = copy_tree(GOLDEN / case / "expected", tmp_path / "out")
    on_path.append(out)
    import sys

    sys.path.insert(0, str(out))
    package = f"golden_{case}"
    registry_module = importlib.import_module(f"{package}.integration.registry")
    importlib.import_module(f"{package}.worker")
    registry = registry_module.build_registry()
    checked = 0
    for cls, schema_file in registry_module.EVENTS:
        schema = json.loads(
            (out / package / "integration" / "event_schemas" / schema_file).read_text()
        )
        for example in schema.get("examples", []):
            event = registry.build(cls.__qx_type__, cls.__qx_version__, example)
            assert type(event) is cls
            assert event.to_json_data() == example
            checked += 1
    assert checked >= 1


def test_golden_outputs_pass_ruff_and_mypy_strict(tmp_path: Path) -> None:
    for case in CASES:
        for item in (GOLDEN / case / "expected").iterdir():
            if item.is_dir() and item.name != "__pycache__":
                copy_tree(item, tmp_path / item.name)
    lint_and_typecheck(tmp_path, [f"golden_{case}" for case in CASES])
