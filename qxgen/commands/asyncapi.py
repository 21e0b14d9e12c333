"""``qxgen asyncapi``: write the service's AsyncAPI 3.0 document, or ``--check`` it is current."""

from __future__ import annotations

import difflib
from pathlib import Path

import click

from qxgen import _asyncapi
from qxgen.commands._console import EXIT_STALE, reported_errors
from qxgen.config import find_project_dir, load_config


@click.command()
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path, dir_okay=False),
    help=f"Where to write it (default: {_asyncapi.DEFAULT_FILE} in the project).",
)
@click.option(
    "--project",
    "-C",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    help="Project directory with pyproject.toml (default: nearest one with [tool.qxgen]).",
)
@click.option("--check", "check_only", is_flag=True, help="Exit 1 with a diff if it is stale.")
def asyncapi(output: Path | None, project: Path | None, check_only: bool) -> None:
    """Write the AsyncAPI 3.0 document of the events this service consumes."""
    with reported_errors():
        config = load_config(project or find_project_dir(Path.cwd()))
        target = output or config.project_dir / _asyncapi.DEFAULT_FILE
        text = _asyncapi.dumps(_asyncapi.build(config))
        current = target.read_text(encoding="utf-8") if target.is_file() else None
        shown = config.display(target)
        if check_only:
            if current == text:
                click.echo(f"up to date: {shown}")
                return
            if current is None:
                click.echo(f"missing: {shown}", err=True)
            else:
                diff = difflib.unified_diff(
                    current.splitlines(keepends=True),
                    text.splitlines(keepends=True),
                    f"a/{shown}",
                    f"b/{shown}",
                )
                click.echo("".join(diff), err=True, nl=False)
            click.echo("AsyncAPI document is out of date: run `qxgen asyncapi`", err=True)
            raise click.exceptions.Exit(EXIT_STALE)
        if current == text:
            click.echo(f"unchanged  {shown}")
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        click.echo(f"wrote  {shown}")
