"""Fixtures and helpers for the generator tests.

Golden files are rewritten with ``pytest tests/generator --update-golden`` (or
``QXGEN_UPDATE_GOLDEN=1 pytest ...``); review the diff like any code change.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
GOLDEN = REPO / "tests" / "golden"
BIN = Path(sys.executable).parent


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite tests/golden/*/expected from the current generator",
    )


@pytest.fixture(scope="session")
def update_golden(request: pytest.FixtureRequest) -> bool:
    try:
        flag = bool(request.config.getoption("--update-golden"))
    except ValueError:  # option not registered (conftest loaded late)
        flag = False
    return flag or os.environ.get("QXGEN_UPDATE_GOLDEN") == "1"


def run_tool(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / args[0]), *args[1:]],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def lint_and_typecheck(root: Path, packages: list[str]) -> None:
    """``ruff check`` and ``mypy --strict`` with the repository's configuration, outside the
    repository (so ``qx`` is a third-party import there, as in a user's service)."""
    (root / "pyproject.toml").write_text(f'[tool.ruff]\nextend = "{REPO / "pyproject.toml"}"\n')
    ruff = run_tool("ruff", "check", "--no-cache", ".", cwd=root)
    assert ruff.returncode == 0, ruff.stdout + ruff.stderr
    mypy = run_tool(
        "mypy",
        "--strict",
        "--config-file",
        str(REPO / "pyproject.toml"),
        "--cache-dir",
        str(root / ".mypy_cache"),
        *packages,
        cwd=root,
    )
    assert mypy.returncode == 0, mypy.stdout + mypy.stderr


@pytest.fixture
def on_path() -> Iterator[list[Path]]:
    """Directories appended here are taken off sys.path after the test, and the modules
    imported from them are forgotten (only those: qx and libraries stay imported)."""
    added: list[Path] = []
    yield added
    for path in added:
        while str(path) in sys.path:
            sys.path.remove(str(path))
        for name, module in list(sys.modules.items()):
            origin = getattr(module, "__file__", None)
            if origin and Path(origin).resolve().is_relative_to(path.resolve()):
                del sys.modules[name]


def copy_tree(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__", ".mypy_cache"))
    return dst
