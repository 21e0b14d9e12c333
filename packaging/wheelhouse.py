"""Build the two wheels (qx-nats, qxgen) and a local wheelhouse of everything they depend on.

    python packaging/wheelhouse.py [DIR]     # default .qx/wheels; prints the two wheel paths

``DIR/dist`` gets fresh ``qx_nats-*.whl`` and ``qxgen-*.whl`` on every run (about 2 s).
``DIR/deps-<hash>`` holds wheels of every dependency (the ``testing`` extra and hatchling
included, so a project made by ``qxgen init`` installs from it), built once per change of either
pyproject.toml with ``pip wheel`` (the index and pip's cache the first time, then nothing).
The end-to-end test installs with ``--no-index --find-links`` from these two directories, so
it runs offline and in seconds on a machine that has run it once, and still works on a fresh
machine that has an index.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GENERATOR = REPO / "packaging" / "qxgen"
# What `pip install -e` of a generated project builds with (hatchling asks for editables).
BUILD_TOOLS = ["hatchling>=1.25", "editables~=0.3"]


def build_wheels(out: Path) -> tuple[Path, Path]:
    dist = out / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    dist.mkdir(parents=True)
    _pip("wheel", "--no-deps", "-w", str(dist), str(REPO), str(GENERATOR))
    return _one(dist, "qx_nats"), _one(dist, "qxgen")


def dependency_wheels(out: Path, runtime: Path, generator: Path) -> Path:
    digest = hashlib.sha256()
    for pyproject in (REPO / "pyproject.toml", GENERATOR / "pyproject.toml", Path(__file__)):
        digest.update(pyproject.read_bytes())
    deps = out / f"deps-{digest.hexdigest()[:12]}"
    if (deps / ".complete").is_file():
        return deps
    for stale in out.glob("deps-*"):
        shutil.rmtree(stale, ignore_errors=True)
    partial = out / "deps-partial"
    shutil.rmtree(partial, ignore_errors=True)
    _pip("wheel", "-w", str(partial), f"{runtime}[testing,outbox]", str(generator), *BUILD_TOOLS)
    for own in (*partial.glob("qx_nats-*.whl"), *partial.glob("qxgen-*.whl")):
        own.unlink()  # always taken fresh from dist/
    (partial / ".complete").write_text("")
    partial.rename(deps)
    return deps


def _pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", "-q", *args], check=True)


def _one(directory: Path, dist: str) -> Path:
    (wheel,) = directory.glob(f"{dist}-*.whl")
    return wheel


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else REPO / ".qx" / "wheels").resolve()
    runtime, generator = build_wheels(out)
    deps = dependency_wheels(out, runtime, generator)
    print(runtime)
    print(generator)
    print(deps)


if __name__ == "__main__":
    main()
