"""``qxgen generate`` scaffolds an upcaster when a type gains a version: created once, never
overwritten, not registered until the user says so, then used by the generated registry."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from qxgen.cli import cli

V1 = {
    "x-qx-event": {"type": "crm.contact.added", "version": 1},
    "type": "object",
    "properties": {"name": {"type": "string"}},
    "required": ["name"],
    "additionalProperties": False,
}
V2 = {
    "x-qx-event": {"type": "crm.contact.added", "version": 2},
    "type": "object",
    "properties": {"first": {"type": "string"}, "last": {"type": "string"}},
    "required": ["first"],
    "additionalProperties": False,
}


def generate(project: Path) -> str:
    result = CliRunner().invoke(cli, ["generate", "-C", str(project)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.qxgen]\nschemas = "schemas"\npackage = "crmsvc"\n'
    )
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "contact-added.v1.json").write_text(json.dumps(V1))
    return tmp_path


def test_stub_appears_with_the_new_version_and_is_kept(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    generate(project)
    upcasters = project / "crmsvc" / "upcasters"
    assert not upcasters.exists()
    assert "register_upcasters" not in (project / "crmsvc/integration/registry.py").read_text()

    (project / "schemas" / "contact-added.v2.json").write_text(json.dumps(V2))
    output = generate(project)
    stub = upcasters / "contact_added_v1_to_v2.py"
    assert "created  crmsvc/upcasters/contact_added_v1_to_v2.py" in output
    text = stub.read_text()
    assert "def upcast(event: ContactAddedV1) -> ContactAddedV2:" in text
    assert "raise NotImplementedError" in text
    assert (
        "register_upcasters(registry)" in (project / "crmsvc/integration/registry.py").read_text()
    )

    # The user writes the upcaster and registers it; the next run keeps both files.
    stub.write_text(
        "from ..integration.events import ContactAddedV1, ContactAddedV2\n\n\n"
        "def upcast(event: ContactAddedV1) -> ContactAddedV2:\n"
        "    first, _, last = event.name.partition(' ')\n"
        "    return ContactAddedV2(first=first, last=last or None)\n"
    )
    init = upcasters / "__init__.py"
    init.write_text(
        "\n".join(
            line.replace("# ", "", 1) if line.strip().startswith("# ") else line
            for line in init.read_text().splitlines()
        )
        + "\n"
    )
    mine = (stub.read_text(), init.read_text())
    output = generate(project)
    assert "kept  crmsvc/upcasters/contact_added_v1_to_v2.py" in output
    assert (stub.read_text(), init.read_text()) == mine

    # The generated registry now hands v1 payloads over as v2 events.
    monkeypatch.syspath_prepend(str(project))
    for name in [m for m in sys.modules if m == "crmsvc" or m.startswith("crmsvc.")]:
        monkeypatch.delitem(sys.modules, name)
    registry = importlib.import_module("crmsvc.integration.registry").build_registry()
    event = registry.build("crm.contact.added", 1, {"name": "Ada Lovelace"})
    assert type(event).__name__ == "ContactAddedV2"
    assert (event.first, event.last) == ("Ada", "Lovelace")  # type: ignore[attr-defined]
    with pytest.raises(Exception, match=r"\"name\" is a required property"):
        registry.build("crm.contact.added", 1, {"first": "no name"})
