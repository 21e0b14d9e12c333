"""Byte-identical output across runs and PYTHONHASHSEED values."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from tests.generator.conftest import GOLDEN, REPO, run_tool


def _tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


def test_output_is_identical_under_different_hash_seeds(tmp_path: Path) -> None:
    trees = []
    for seed in ("0", "4242"):
        work = tmp_path / f"seed-{seed}"
        work.mkdir()
        env = {**os.environ, "PYTHONHASHSEED": seed}
        # The shop catalogue plus the hostile-names case: refs, enums, unions, odd names.
        shutil.copytree(REPO / "schemas", work / "schemas")
        shutil.copytree(GOLDEN / "hostile_names" / "schemas", work / "schemas" / "hostile")
        result = run_tool(
            "qxgen", "generate", "schemas", "--package", "svc", "--project", ".", cwd=work, env=env
        )
        assert result.returncode == 0, result.stdout + result.stderr
        trees.append(_tree(work / "svc"))
    assert trees[0].keys() == trees[1].keys()
    different = [path for path in trees[0] if trees[0][path] != trees[1][path]]
    assert not different
