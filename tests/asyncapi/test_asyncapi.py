"""``qxgen asyncapi``: the document validates against the official AsyncAPI 3.0.0 schema,
describes every event, is deterministic and is covered by ``--check``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from qxgen.cli import cli

REPO = Path(__file__).resolve().parents[2]
OFFICIAL = REPO / "tests" / "data" / "asyncapi-3.0" / "asyncapi-3.0.0.schema.json"
EXAMPLE = REPO / "examples" / "shop_service"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the example service next to a copy of the repository's schemas."""
    shutil.copytree(REPO / "schemas", tmp_path / "schemas")
    shutil.copytree(EXAMPLE, tmp_path / "examples" / "shop_service")
    return tmp_path / "examples" / "shop_service"


def run(project: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["asyncapi", "-C", str(project), *args])
    return result.exit_code, result.output


def test_document_validates_against_the_official_schema(project: Path) -> None:
    (project / "asyncapi.json").unlink(missing_ok=True)
    code, output = run(project)
    assert code == 0, output
    document = json.loads((project / "asyncapi.json").read_text())
    official = json.loads(OFFICIAL.read_text())
    jsonschema.Draft7Validator(official).validate(document)
    assert document["asyncapi"] == "3.0.0"


def test_every_event_has_a_channel_operation_and_message(project: Path) -> None:
    run(project)
    document = json.loads((project / "asyncapi.json").read_text())
    registry = json.loads((project / "shop_service/integration/qxgen-manifest.json").read_text())[
        "names"
    ]
    assert len(document["operations"]) == len(registry)
    for key, name in registry.items():
        event_type, version = key.rsplit(":", 1)
        message = document["components"]["messages"][name]
        assert message["x-qx-event"] == {"type": event_type, "version": int(version)}
        assert message["headers"]["properties"]["ce-type"]["const"] == event_type
        operation = document["operations"][f"receive{name}"]
        assert operation["action"] == "receive"
        jetstream = operation["x-qx-jetstream"]
        assert jetstream["durable"] == "shop_service"
        assert jetstream["stream"] in ("SHOP", "PAYMENTS")  # payments events name their own
        channel = operation["channel"]["$ref"].rsplit("/", 1)[1]
        assert document["channels"][channel]["address"] == f"{event_type}.v{version}"
        assert message["payload"] == {"$ref": f"#/components/schemas/{name}"}
    placed = document["components"]["messages"]["OrderPlacedV1"]
    assert placed["examples"][0]["payload"]["order_id"]
    text = json.dumps(document)
    assert "#/$defs/" not in text  # every ref points into components


def test_examples_are_valid_payloads(project: Path) -> None:
    run(project)
    document = json.loads((project / "asyncapi.json").read_text())
    schemas = document["components"]["schemas"]
    for name, message in document["components"]["messages"].items():
        for example in message.get("examples", []):
            root = {"$ref": f"#/components/schemas/{name}", "components": {"schemas": schemas}}
            jsonschema.Draft202012Validator(root).validate(example["payload"])


def test_check_detects_drift_and_output_is_deterministic(project: Path) -> None:
    assert run(project)[0] == 0
    first = (project / "asyncapi.json").read_text()
    assert run(project)[0] == 0
    assert (project / "asyncapi.json").read_text() == first
    assert run(project, "--check")[0] == 0
    (project / "asyncapi.json").write_text(first.replace('"SHOP"', '"OTHER"', 1))
    code, output = run(project, "--check")
    assert code == 1
    assert "run `qxgen asyncapi`" in output
    (project / "asyncapi.json").unlink()
    assert run(project, "--check")[0] == 1


def test_committed_example_document_is_current() -> None:
    code, output = run(EXAMPLE, "--check")
    assert code == 0, output
