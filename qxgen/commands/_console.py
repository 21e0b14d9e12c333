"""Shared output helpers: rich consoles and the error boundary every command uses."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click
from rich.console import Console

from qxgen.errors import QxgenError

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

EXIT_STALE = 1
EXIT_ERROR = 2


@contextmanager
def reported_errors() -> Iterator[None]:
    """Turn a QxgenError into one readable line on stderr and exit code 2."""
    try:
        yield
    except QxgenError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", markup=True, highlight=False)
        raise click.exceptions.Exit(EXIT_ERROR) from None
