"""The runtime (``qx``) stands alone: a worker image installs ``qx-nats`` without the generator.

Statically, no module under qx/ imports qxgen or a generator-only package; the optional
``refs`` extra (jsonschema, referencing) only inside a function or under TYPE_CHECKING.
Dynamically, importing every qx module loads none of them.
"""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import qx

QX = Path(qx.__file__).parent
GENERATOR_ONLY = {
    "qxgen",
    "datamodel_code_generator",
    "jinja2",
    "click",
    "rich",
    "yaml",
    "black",
    "isort",
    "watchfiles",
}
OPTIONAL = {"jsonschema", "referencing"}  # qx-nats[refs], imported lazily


def _top_level_imports(tree: ast.Module) -> list[tuple[str, int, bool]]:
    """(module, line, at module level) for every import; TYPE_CHECKING blocks are skipped."""
    found: list[tuple[str, int, bool]] = []

    def visit(node: ast.AST, top: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            if isinstance(child, ast.Import):
                found.extend((a.name.split(".")[0], child.lineno, top) for a in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module and not child.level:
                found.append((child.module.split(".")[0], child.lineno, top))
            inner = not isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            visit(child, top and inner)

    visit(tree, True)
    return found


def test_qx_source_never_imports_the_generator() -> None:
    bad = []
    for path in sorted(QX.rglob("*.py")):
        for module, line, top in _top_level_imports(ast.parse(path.read_text())):
            if module in GENERATOR_ONLY or (module in OPTIONAL and top):
                bad.append(f"{path.relative_to(QX.parent)}:{line} imports {module}")
    assert not bad, "\n".join(bad)


def test_importing_every_qx_module_loads_no_generator_package() -> None:
    modules = [m.name for m in pkgutil.walk_packages([str(QX)], "qx.")]
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "print(' '.join(sorted({n.split('.')[0] for n in sys.modules})))\n"
    )
    loaded = set(
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout.split()
    )
    assert "qx" in loaded
    assert not loaded & (GENERATOR_ONLY | OPTIONAL)
