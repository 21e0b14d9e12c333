"""``qxgen init`` writes a project that installs as created (the e2e test installs one)."""

from __future__ import annotations

import tomllib
from pathlib import Path

from click.testing import CliRunner

from qxgen.cli import cli

REPO = Path(__file__).resolve().parents[2]


def init(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["init", *args])
    return result.exit_code, result.output


def test_the_project_depends_on_the_runtime_and_develops_with_the_generator(
    tmp_path: Path,
) -> None:
    code, out = init(str(tmp_path / "billing-service"))
    assert code == 0, out
    project = tmp_path / "billing-service"
    meta = tomllib.loads((project / "pyproject.toml").read_text())
    assert meta["project"]["dependencies"] == ["qx-nats>=0.1"]
    assert meta["project"]["optional-dependencies"]["dev"] == [
        "qx-nats[testing]>=0.1",
        "qxgen>=0.1",
    ]
    assert meta["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"] == ["billing_service"]
    assert meta["tool"]["pytest"]["ini_options"]["asyncio_mode"] == "auto"
    assert ".qx/" in (project / ".gitignore").read_text().splitlines()
    assert "pip install -e '.[dev]'" in (project / "README.md").read_text()
    assert (
        "from billing_service.worker import" in (project / "tests" / "test_example.py").read_text()
    )
    assert "pip install -e '.[dev]'" in out


def test_qx_from_a_checkout_or_wheels_uses_direct_references(tmp_path: Path) -> None:
    code, out = init(str(tmp_path / "a"), "--qx-from", str(REPO))
    assert code == 0, out
    meta = tomllib.loads((tmp_path / "a" / "pyproject.toml").read_text())
    assert meta["project"]["dependencies"] == [f"qx-nats @ {REPO.as_uri()}"]
    assert (
        f"qxgen @ {(REPO / 'packaging' / 'qxgen').as_uri()}"
        in (meta["project"]["optional-dependencies"]["dev"])
    )
    assert meta["tool"]["hatch"]["metadata"]["allow-direct-references"] is True

    wheels = tmp_path / "wheels"
    wheels.mkdir()
    code, out = init(str(tmp_path / "b"), "--qx-from", str(wheels))
    assert code == 2
    assert out.startswith(f"error: --qx-from {wheels}: no qx_nats-*.whl there")
    assert not (tmp_path / "b").exists()
