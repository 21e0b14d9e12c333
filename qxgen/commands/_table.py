"""Listings that fit: a table when it fits the terminal, one block per record otherwise.

rich squeezes a table that is too wide by wrapping every column into slivers ("greet / ings. /
perso..."), which is unreadable at 80 columns and useless in a pipe. Here the table is
measured first with every cell on one line; if it does not fit the console width, or the
output is not a terminal (a pipe, a file, CI logs), each row is printed as a block of
``name  value`` lines under its key (an id, never cut: people copy it into the next command).
Other values longer than ``MAX_CELL`` characters are cut with a note of how much is hidden, so
one absurd header (a 64 kB ``ce-type``) cannot fill the screen.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

MAX_CELL = 120


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    whole: bool = False  # an id: never cut, never wrapped
    justify: str = "left"


def cap(value: str, limit: int = MAX_CELL) -> str:
    """``value`` on one line, cut to ``limit`` characters with a count of what was cut."""
    flat = " ".join(value.split()) if any(c in value for c in "\r\n\t") else value
    if len(flat) <= limit:
        return flat
    return f"{flat[: limit - 20]}… (+{len(flat) - (limit - 20)} chars)"


def print_listing(
    console: Console,
    title: str,
    columns: Sequence[Column],
    rows: Sequence[Sequence[str]],
    *,
    key: int = 0,
) -> str:
    """Print ``rows`` as a table or as records; returns which layout was used."""
    cells = [
        [v if col.whole else cap(v) for col, v in zip(columns, row, strict=True)] for row in rows
    ]
    table = Table(
        title=title,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
    )
    for col in columns:
        table.add_column(col.name, no_wrap=True, justify=col.justify)  # type: ignore[arg-type]
    for row in cells:
        table.add_row(*(Text(v) for v in row))
    unbounded = console.options.update_width(1_000_000)  # the width it needs, not what it gets
    if console.is_terminal and console.measure(table, options=unbounded).maximum <= console.width:
        console.print(table)
        return "table"
    console.print(Text(title, style="bold"))
    label_width = max(len(c.name) for i, c in enumerate(columns) if i != key)
    for row in cells:
        console.print()
        console.print(Text(row[key], style="bold"), soft_wrap=True)
        for i, (col, value) in enumerate(zip(columns, row, strict=True)):
            if i != key:
                console.print(Text(f"  {col.name:<{label_width}}  {value}"), soft_wrap=True)
    return "records"
