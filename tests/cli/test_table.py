"""Listings at 80 columns and in pipes: a table only when it fits, ids whole, values capped."""

from __future__ import annotations

import io

from rich.console import Console

from qxgen.commands._table import MAX_CELL, Column, cap, print_listing

COLUMNS = [Column("ID", whole=True), Column("Type"), Column("Reason")]
ID = "qx-dlq:SOME_LONG_STREAM_NAME:some_long_durable_name:123456"


def render(rows: list[list[str]], *, terminal: bool, width: int = 80) -> tuple[str, str]:
    out = io.StringIO()
    console = Console(file=out, width=width, force_terminal=terminal, color_system=None)
    layout = print_listing(console, "QX_DLQ: records", COLUMNS, rows)
    return layout, out.getvalue()


def test_a_table_that_fits_a_terminal_stays_a_table() -> None:
    layout, text = render([["qx-dlq:S:d:1", "a.b.c", "poison"]], terminal=True)
    assert layout == "table"
    assert "qx-dlq:S:d:1" in text
    assert max(len(line) for line in text.splitlines()) <= 80


def test_too_wide_for_80_columns_becomes_records_with_whole_ids() -> None:
    row = [ID, "greetings.person.greeted.with.a.long.name", "non_retryable:handler_failed"]
    layout, text = render([row, row], terminal=True)
    assert layout == "records"
    lines = text.splitlines()
    assert lines.count(ID) == 2  # the key line: the id whole, on a line of its own
    assert "  Type    greetings.person.greeted.with.a.long.name" in lines
    assert "  Reason  non_retryable:handler_failed" in lines
    assert max(len(line) for line in lines) <= 80


def test_piped_output_is_records_even_when_narrow() -> None:
    layout, text = render([["qx-dlq:S:d:1", "a.b.c", "poison"]], terminal=False)
    assert layout == "records"
    assert "  Type    a.b.c" in text.splitlines()


def test_an_absurd_value_is_capped_but_an_id_never_is() -> None:
    huge_id = "qx-dlq:" + "S" * 300 + ":d:1"
    _, text = render([[huge_id, "t" * 64_000, "r\nwith\nnewlines"]], terminal=False)
    assert huge_id in text.splitlines()
    type_line = next(line for line in text.splitlines() if line.startswith("  Type"))
    assert len(type_line) < MAX_CELL + 20
    assert f"(+{64_000 - (MAX_CELL - 20)} chars)" in type_line
    assert "  Reason  r with newlines" in text.splitlines()
    assert len(text.splitlines()) < 10


def test_cap_leaves_short_values_alone() -> None:
    assert cap("short") == "short"
