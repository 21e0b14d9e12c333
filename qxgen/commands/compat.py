"""``qxgen compat``: the breaking-change check, for CI (``buf breaking`` for JSON Schema events).

Exit codes: 0 compatible, 1 not compatible, 2 bad input (unreadable schema, unknown git ref).
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

import click

from qxgen.commands._console import EXIT_STALE, reported_errors
from qxgen.compat import (
    MODES,
    EventKey,
    EventResult,
    EventSchema,
    Mode,
    RunResult,
    checkout_schemas,
    compare,
    file_schema,
    project_schemas,
    revisions,
    run,
    schemas_at,
)
from qxgen.config import find_project_dir, load_config
from qxgen.errors import ConfigError


@click.command()
@click.option("--against", "ref", help="Git revision to compare with (default: HEAD).")
@click.option(
    "--against-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Compare with another checkout (a project directory or a schemas directory).",
)
@click.option("--old", "old_file", type=click.Path(path_type=Path), help="Old schema file.")
@click.option("--new", "new_file", type=click.Path(path_type=Path), help="New schema file.")
@click.option(
    "--mode",
    type=click.Choice(MODES),
    default="backward",
    show_default=True,
    help="backward: new consumers read old messages; forward: old consumers read new "
    "messages; full: both.",
)
@click.option(
    "--transitive", is_flag=True, help="Compare with every earlier revision in git history."
)
@click.option("--strict", is_flag=True, help="Fail on changes qxgen cannot decide.")
@click.option("--all", "show_all", is_flag=True, help="List compatible changes too.")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@click.option(
    "--project",
    "-C",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    help="Project directory with pyproject.toml (default: nearest one with [tool.qxgen]).",
)
def compat(
    ref: str | None,
    against_dir: Path | None,
    old_file: Path | None,
    new_file: Path | None,
    mode: str,
    transitive: bool,
    strict: bool,
    show_all: bool,
    fmt: str,
    project: Path | None,
) -> None:
    """Check that the event schemas stay compatible with an earlier revision.

    Every event (type + version) of the project is bundled and compared with the same event
    at --against (a git ref), --against-dir, or every earlier revision (--transitive);
    --old/--new compare two single files.
    """
    with reported_errors():
        checked_mode = cast(Mode, mode)
        if (old_file is None) != (new_file is None):
            raise ConfigError("--old and --new go together")
        if old_file is not None and new_file is not None:
            if ref or against_dir or transitive:
                raise ConfigError("--old/--new compare two files; drop --against/--transitive")
            result = RunResult(checked_mode, strict, compared=1)
            comparison = compare(file_schema(old_file), file_schema(new_file))
            result.results.append(
                EventResult("schema", 0, str(new_file), str(old_file), comparison)
            )
            _emit_files(result, fmt, show_all, old_file, new_file)
            return
        if ref and against_dir:
            raise ConfigError("--against and --against-dir exclude each other")
        config = load_config(project or find_project_dir(Path.cwd()))
        current = project_schemas(config)
        baselines: list[tuple[str, dict[EventKey, EventSchema]]]
        if against_dir is not None:
            if transitive:
                raise ConfigError("--transitive needs git history; drop --against-dir")
            baselines = [(str(against_dir), checkout_schemas(against_dir))]
        elif transitive:
            baselines = [
                (commit[:12], schemas_at(config, commit))
                for commit in revisions(config, ref or "HEAD")
            ]
        else:
            baselines = [(ref or "HEAD", schemas_at(config, ref or "HEAD"))]
        result = run(current, baselines, mode=checked_mode, strict=strict)
        _emit(result, fmt, show_all)


def _emit(result: RunResult, fmt: str, show_all: bool) -> None:
    if fmt == "json":
        click.echo(result.as_json(show_all=show_all))
    else:
        for line in result.lines(show_all=show_all):
            click.echo(line)
    if not result.compatible:
        raise click.exceptions.Exit(EXIT_STALE)


def _emit_files(result: RunResult, fmt: str, show_all: bool, old: Path, new: Path) -> None:
    if fmt == "json":
        _emit(result, fmt, show_all)
        return
    comparison = result.results[0].comparison
    for change in comparison.changes:
        if show_all or change.is_breaking(result.mode):
            click.echo(change.line())
    verdict = "compatible" if result.compatible else "NOT compatible"
    click.echo(f"{new} is {verdict} with {old} ({result.mode})")
    if not result.compatible:
        raise click.exceptions.Exit(EXIT_STALE)
