"""``qxgen init``: a new service skeleton with an example schema, then a first generate."""

from __future__ import annotations

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


@click.command()
@click.argument("directory", required=False, default=".", type=click.Path(path_type=Path))
@click.option("--package", help="Python package name (default: from the directory name).")
@click.option("--service", help="Service name (default: the directory name).")
@click.option(
    "--templates",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    help="Directory of templates overriding the shipped ones by file name.",
)
def init(directory: Path, package: str | None, service: str | None, templates: Path | None) -> None:
    """Create a service in DIRECTORY: pyproject.toml with [tool.qxgen], an example event
    schema, and the generated code."""
    with reported_errors():
        directory = directory.resolve()
        service = service or directory.name
        package = package or snake_case(service, fallback="service")
        if not is_dotted_identifier(package):
            raise ConfigError(f"package {package!r} is not a valid Python module name")
        env = _render.environment(templates)
        env.filters["tomlstr"] = _render.pystr  # a JSON string is a valid TOML basic string
        directory.mkdir(parents=True, exist_ok=True)
        pyproject = directory / PYPROJECT
        context = {"package": package, "service": service}
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
        if (
            not any((directory / "schemas").rglob("*.json"))
            if example.parent.parent.exists()
            else True
        ):
            example.parent.mkdir(parents=True, exist_ok=True)
            example.write_text(_render.render(env, "init/example_event.json.jinja", **context))
            console.print(f"  created  {escape(EXAMPLE_SCHEMA.as_posix())}")
        config = load_config(directory, templates=templates)
        report = write(plan(config), config.out)
        for path in [*report.wrote, *report.created]:
            console.print(f"  created  {escape(path)}")
        console.print(
            f"\nNext: implement the handlers in {escape(package)}/handlers/, then run "
            f"`python -m {escape(package)}.worker` (NATS_URL points at the server)."
        )
