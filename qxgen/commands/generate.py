"""``qxgen generate``: write the generated code, or ``--check`` that it is current."""

from __future__ import annotations

from pathlib import Path

import click
from rich.markup import escape

from qxgen.commands._console import EXIT_STALE, console, err_console, reported_errors
from qxgen.compat import check_generate
from qxgen.config import find_project_dir, load_config
from qxgen.generator import plan
from qxgen.output import check, write

_ORPHANED = (
    "is no longer referenced by the generated code (its event was removed or renamed); "
    "kept, not deleted: move its code to the handler now used, or delete it"
)


@click.command()
@click.argument("schemas", required=False, type=click.Path(path_type=Path, file_okay=False))
@click.option("--package", help="Output Python package (default: [tool.qxgen].package).")
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    help="Directory holding the package (default: [tool.qxgen].out or the project).",
)
@click.option(
    "--project",
    "-C",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    help="Project directory with pyproject.toml (default: nearest one with [tool.qxgen]).",
)
@click.option("--service", help="Service name (default: the package).")
@click.option("--stream", help="Stream the worker consumes.")
@click.option("--durable", help="Durable consumer name.")
@click.option(
    "--templates",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    help="Directory of templates overriding the shipped ones by file name.",
)
@click.option("--allow-remote-refs", is_flag=True, help="Fetch http(s) $refs instead of refusing.")
@click.option(
    "--allow-external-refs", is_flag=True, help="Follow $refs leaving the schemas directory."
)
@click.option(
    "--allow-breaking",
    is_flag=True,
    help="Overwrite a committed event schema even if old messages would no longer pass.",
)
@click.option("--check", "check_only", is_flag=True, help="Exit 1 with a diff if output is stale.")
def generate(
    schemas: Path | None,
    package: str | None,
    out: Path | None,
    project: Path | None,
    service: str | None,
    stream: str | None,
    durable: str | None,
    templates: Path | None,
    allow_remote_refs: bool,
    allow_external_refs: bool,
    allow_breaking: bool,
    check_only: bool,
) -> None:
    """Generate events, registry, worker and handler stubs from SCHEMAS."""
    with reported_errors():
        project_dir = project or find_project_dir(Path.cwd())
        config = load_config(
            project_dir,
            schemas=schemas,
            package=package,
            out=out,
            service=service,
            stream=stream,
            durable=durable,
            templates=templates,
            allow_remote_refs=allow_remote_refs,
            allow_external_refs=allow_external_refs,
        )
        with console.status("generating", spinner="dots") as spinner:
            result = plan(config, progress=lambda stage: spinner.update(stage))
        where = config.display(config.out)
        prefix = "" if where == "." else f"{where}/"
        if check_only:
            status = check(result, config.out)
            if status.ok:
                console.print(f"up to date: {len(result.files)} files in {escape(prefix or '.')}")
                return
            if status.diff:
                # Plain text, never cropped or wrapped: CI logs are not a terminal, and a diff
                # cut at 80 columns shows identical -/+ lines.
                click.echo(status.diff, err=True, nl=False)
            for label, paths in (
                ("stale", status.stale),
                ("missing", status.missing),
                ("missing scaffold", status.missing_scaffold),
                ("no longer generated", status.to_delete),
            ):
                for path in paths:
                    err_console.print(f"{label}: {escape(prefix + path)}")
            for path in status.orphaned:
                err_console.print(f"orphaned: {escape(prefix + path)} {_ORPHANED}")
            err_console.print("generated code is out of date: run `qxgen generate`")
            raise click.exceptions.Exit(EXIT_STALE)
        if not allow_breaking:
            check_generate(result, config.out)  # qxgen compat: committed versions stay readable
        report = write(result, config.out)
        for label, paths in (
            ("wrote", report.wrote),
            ("created", report.created),
            ("deleted", report.deleted),
            ("kept", report.kept),
        ):
            for path in paths:
                console.print(f"{label:>9}  {escape(prefix + path)}")
        console.print(
            f"{len(report.wrote)} written, {len(report.unchanged)} unchanged, "
            f"{len(report.created)} created, {len(report.kept)} kept, "
            f"{len(report.deleted)} deleted"
        )
        for path in report.orphaned:
            err_console.print(f"warning: {escape(prefix + path)} {_ORPHANED}")
