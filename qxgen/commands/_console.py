"""Shared output helpers: rich consoles and the error boundary every command uses."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click
from rich.console import Console
from rich.markup import escape

from qxgen.errors import EXIT_FAILED, EXIT_USAGE, QxgenError

# emoji=False: ids like "qx-dlq:CL:..." must not turn into emoji codes.
console = Console(highlight=False, soft_wrap=True, emoji=False)
err_console = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)

EXIT_STALE = EXIT_FAILED
EXIT_ERROR = EXIT_USAGE


@contextmanager
def reported_errors() -> Iterator[None]:
    """Turn a QxgenError into one readable line on stderr and exit code 2."""
    try:
        yield
    except QxgenError as exc:
        # The message is data (it quotes schema text): escape it so rich prints it verbatim.
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", markup=True, highlight=False)
        raise click.exceptions.Exit(EXIT_ERROR) from None
