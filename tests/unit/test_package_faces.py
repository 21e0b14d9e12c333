"""Packages use each other only through their public faces.

qx.events keeps the wire model and re-exports the transport names it always offered; these
tests pin that (same objects, every ``__all__`` name importable) and fail as soon as a module
under qx/ or qxgen/ imports another package's private module or name.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import qx.events
import qx.transport

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [ROOT / "qx", ROOT / "qxgen"]


def test_every_events_name_resolves() -> None:
    for name in qx.events.__all__:
        assert getattr(qx.events, name) is not None, name


def test_transport_names_in_events_are_the_transport_objects() -> None:
    shared = set(qx.events.__all__) & set(qx.transport.__all__)
    assert {"NatsConsumer", "NatsSettings", "NatsPublisher", "create_nats_connection"} <= shared
    for name in shared:
        assert getattr(qx.events, name) is getattr(qx.transport, name), name


def test_star_import_of_events_gives_the_transport_objects() -> None:
    namespace: dict[str, object] = {}
    exec("from qx.events import *", namespace)
    assert set(qx.events.__all__) <= set(namespace)
    assert namespace["NatsConsumer"] is qx.transport.NatsConsumer


def test_unknown_events_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'NoSuchThing'"):
        _ = qx.events.NoSuchThing  # type: ignore[attr-defined]


def test_events_imports_without_the_transport() -> None:
    """The wire model stands alone: importing qx.events must not pull in NATS plumbing."""
    import subprocess
    import sys

    code = "import sys, qx.events; print('qx.transport' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == "False"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _package_of(path: Path) -> str:
    module = _module_name(path)
    return module if path.name == "__init__.py" else module.rpartition(".")[0]


def _is_module(dotted: str) -> bool:
    base = ROOT.joinpath(*dotted.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def _imported(tree: ast.AST, package: str) -> list[tuple[int, str]]:
    """Every dotted target an import statement names (``from a import b`` gives ``a.b``)."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found += [(node.lineno, base)]
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return found


def _violations(source: str, path: Path) -> list[str]:
    package = _package_of(path)
    bad: list[str] = []
    for lineno, target in _imported(ast.parse(source, filename=str(path)), package):
        parts = target.split(".")
        if parts[0] not in {"qx", "qxgen"}:
            continue
        for i, part in enumerate(parts):
            if not part.startswith("_") or part.startswith("__"):
                continue
            owner = ".".join(parts[:i])
            private = ".".join(parts[: i + 1])
            # A package's internals are visible to the package and its subpackages only.
            inside = package == owner or package.startswith(owner + ".")
            message = f"{path.relative_to(ROOT)}:{lineno} imports {private}"
            if not inside and (_is_module(private) or i == len(parts) - 1) and message not in bad:
                bad.append(message)
            break
    return bad


def test_no_module_imports_another_packages_private_parts() -> None:
    files = [p for src in SOURCES for p in sorted(src.rglob("*.py"))]
    assert len(files) > 50
    bad = [v for p in files for v in _violations(p.read_text(encoding="utf-8"), p)]
    assert not bad, "use the package's public __init__ instead:\n" + "\n".join(bad)


@pytest.mark.parametrize(
    ("source", "where", "expected"),
    [
        ("from qx.events._base import IntegrationEvent", "qx/cqrs/_mediator.py", True),
        ("from qx.telemetry import _metrics as metrics", "qx/worker/_observe.py", True),
        ("import qx.events._envelope", "qx/worker/_decode.py", True),
        ("from qx.outbox._main import relay_process", "qxgen/commands/relay.py", True),
        ("from qx.embedded import _port_open", "qx/worker/_loop.py", True),
        ("from qx.events import IntegrationEvent", "qx/cqrs/_mediator.py", False),
        ("from qx.worker._decision import Outcome", "qx/worker/_classify.py", False),
        ("from qxgen._models import x", "qxgen/commands/generate.py", False),
        ("from . import _fast_headers", "qx/transport/_consumer.py", False),
        ("from .._base import IntegrationEvent", "qx/transport/_consumer.py", False),
        ("from ..events import _envelope", "qx/transport/_consumer.py", True),
    ],
)
def test_the_checker_tells_public_from_private(source: str, where: str, expected: bool) -> None:
    """The checker itself can fail: known-bad imports are reported, known-good ones are not."""
    assert bool(_violations(source, ROOT / where)) is expected
