"""Event class names (and so handler modules) are stable across runs: adding an event never
renames an existing one, and a handler the output stops referencing is reported, not lost."""

from __future__ import annotations

import asyncio
import importlib
import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from qxgen.cli import cli

MANIFEST = Path("svc") / "integration" / "qxgen-manifest.json"
IMPLEMENTED = '''"""Mine."""

from qx.core import Result
from qx.cqrs import integration_event_handler

from ..integration.events import UserRegisteredV1


@integration_event_handler(UserRegisteredV1)
class UserRegisteredV1Handler:
    async def handle(self, event: UserRegisteredV1) -> Result[None]:
        return Result.success(None)
'''


def _event(type_: str, version: int = 1) -> dict[str, object]:
    return {
        "x-qx-event": {"type": type_, "version": version},
        "type": "object",
        "properties": {"user_id": {"type": "string"}},
        "required": ["user_id"],
    }


def write_schema(path: Path, schema: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(schema, indent=2))


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "pyproject.toml").write_text('[tool.qxgen]\nschemas = "schemas"\npackage = "svc"\n')
    write_schema(
        tmp_path / "schemas" / "identity" / "registered.json", _event("identity.user.registered")
    )
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _names(project: Path) -> dict[str, str]:
    names = json.loads((project / MANIFEST).read_text())["names"]
    assert isinstance(names, dict)
    return names


def test_adding_a_clashing_event_keeps_the_implemented_handler_wired(
    project: Path, on_path: list[Path]
) -> None:
    assert run("generate").exit_code == 0
    handler = project / "svc" / "handlers" / "user_registered_v1.py"
    handler.write_text(IMPLEMENTED)
    assert _names(project) == {"identity.user.registered:1": "UserRegisteredV1"}

    write_schema(
        project / "schemas" / "billing" / "registered.json", _event("billing.user.registered")
    )
    result = run("generate")
    assert result.exit_code == 0, result.output
    assert "warning" not in result.output
    assert _names(project) == {
        "billing.user.registered:1": "BillingUserRegisteredV1",
        "identity.user.registered:1": "UserRegisteredV1",
    }
    assert handler.read_text() == IMPLEMENTED
    assert not (project / "svc" / "handlers" / "identity_user_registered_v1.py").exists()
    assert (project / "svc" / "handlers" / "billing_user_registered_v1.py").exists()
    worker = (project / "svc" / "worker.py").read_text()
    assert "from .handlers.user_registered_v1 import UserRegisteredV1Handler" in worker
    assert "from .handlers.billing_user_registered_v1 import BillingUserRegisteredV1Handler" in (
        worker
    )
    check = run("generate", "--check")
    assert check.exit_code == 0, check.output
    again = run("generate")
    assert "0 written" in again.output

    # The implemented handler really is the one the worker uses.
    sys.path.insert(0, str(project))
    on_path.append(project)
    events = importlib.import_module("svc.integration.events")
    module = importlib.import_module("svc.handlers.user_registered_v1")
    event = events.UserRegisteredV1.model_validate({"user_id": "u1"})
    assert event.__qx_type__ == "identity.user.registered"
    assert asyncio.run(module.UserRegisteredV1Handler().handle(event)).is_success
    importlib.import_module("svc.worker")


def test_fresh_generation_still_uses_the_full_type_for_clashing_newcomers(project: Path) -> None:
    write_schema(
        project / "schemas" / "billing" / "registered.json", _event("billing.user.registered")
    )
    assert run("generate").exit_code == 0
    assert _names(project) == {
        "billing.user.registered:1": "BillingUserRegisteredV1",
        "identity.user.registered:1": "IdentityUserRegisteredV1",
    }


def test_a_newcomer_does_not_take_the_name_of_an_event_removed_in_the_same_run(
    project: Path,
) -> None:
    assert run("generate").exit_code == 0
    (project / "schemas" / "identity" / "registered.json").unlink()
    write_schema(
        project / "schemas" / "billing" / "registered.json", _event("billing.user.registered")
    )
    result = run("generate")
    assert result.exit_code == 0, result.output
    # The removed event's handler is not silently re-used for another event.
    assert _names(project) == {"billing.user.registered:1": "BillingUserRegisteredV1"}
    assert "warning: svc/handlers/user_registered_v1.py is no longer referenced" in result.output


def test_names_survive_from_a_manifest_without_a_names_map(project: Path) -> None:
    """Output of a qxgen that did not record names: they are read back from events.py."""
    assert run("generate").exit_code == 0
    manifest = json.loads((project / MANIFEST).read_text())
    del manifest["names"]
    (project / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    write_schema(
        project / "schemas" / "billing" / "registered.json", _event("billing.user.registered")
    )
    result = run("generate")
    assert result.exit_code == 0, result.output
    assert _names(project)["identity.user.registered:1"] == "UserRegisteredV1"
    assert "warning" not in result.output


def test_an_orphaned_scaffold_handler_is_warned_about_kept_and_fails_check(
    project: Path,
) -> None:
    assert run("generate").exit_code == 0
    handler = project / "svc" / "handlers" / "user_registered_v1.py"
    handler.write_text(IMPLEMENTED)
    # Someone renames the event by hand in the manifest: the old handler is no longer used.
    manifest = json.loads((project / MANIFEST).read_text())
    manifest["names"] = {"identity.user.registered:1": "RenamedV1"}
    (project / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")

    check = run("generate", "--check")
    assert check.exit_code == 1
    assert "orphaned: svc/handlers/user_registered_v1.py is no longer referenced" in check.output

    result = run("generate")
    assert result.exit_code == 0, result.output
    assert "warning: svc/handlers/user_registered_v1.py is no longer referenced" in result.output
    assert "kept, not deleted" in result.output
    assert handler.read_text() == IMPLEMENTED
    assert (
        "from .handlers.renamed_v1 import RenamedV1Handler"
        in (project / "svc" / "worker.py").read_text()
    )
    # Reported on every run until it is dealt with, then never again.
    for _ in range(2):
        again = run("generate", "--check")
        assert again.exit_code == 1
        assert "orphaned: svc/handlers/user_registered_v1.py" in again.output
        assert "warning: svc/handlers/user_registered_v1.py" in run("generate").output
    handler.unlink()
    assert run("generate").exit_code == 0
    assert run("generate", "--check").exit_code == 0


def test_types_collapsing_to_one_class_name_get_distinct_classes(
    project: Path, on_path: list[Path]
) -> None:
    (project / "schemas" / "identity" / "registered.json").unlink()
    write_schema(project / "schemas" / "a.json", _event("x.order-placed"))
    write_schema(project / "schemas" / "b.json", _event("x.order_placed"))
    result = run("generate")
    assert result.exit_code == 0, result.output
    assert _names(project) == {
        "x.order-placed:1": "XOrderPlacedV1",
        "x.order_placed:1": "XOrderPlacedV1Alt2",
    }
    assert (project / "svc" / "handlers" / "xorder_placed_v1_alt2.py").exists()
    sys.path.insert(0, str(project))
    on_path.append(project)
    events = importlib.import_module("svc.integration.events")
    assert events.XOrderPlacedV1.__qx_type__ == "x.order-placed"
    assert events.XOrderPlacedV1Alt2.__qx_type__ == "x.order_placed"
    importlib.import_module("svc.worker")
    assert run("generate", "--check").exit_code == 0
