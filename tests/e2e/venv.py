"""Fresh venvs outside the repository, installed from the local wheelhouse (offline)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def wheels() -> tuple[Path, Path, Path]:
    """(runtime wheel, generator wheel, dependency wheel directory), built once per session."""
    out = subprocess.run(
        [sys.executable, str(REPO / "packaging" / "wheelhouse.py")],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    ).stdout.split()
    runtime, generator, deps = (Path(p) for p in out[-3:])
    return runtime, generator, deps


def venv_env(venv: Path) -> dict[str, str]:
    """A user's shell: the venv first on PATH, nothing of ours, 80 columns."""
    keep = ("HOME", "LANG", "LC_ALL", "TMPDIR", "PIP_CERT")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}/usr/local/bin:/usr/bin:/bin"
    env["VIRTUAL_ENV"] = str(venv)
    env["COLUMNS"] = "80"
    return env


def run(args: list[str], cwd: Path, env: dict[str, str], timeout: float = 300) -> str:
    """Run a command as the user would; its whole output in the failure if it fails."""
    done = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, (
        f"{' '.join(args)} -> {done.returncode}\n{done.stdout}\n{done.stderr}"
    )
    return done.stdout
