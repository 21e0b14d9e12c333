"""The compat rules, case by case (tests/compat/cases.py holds the table)."""

from __future__ import annotations

from typing import Any

import pytest

from qxgen.compat import Comparison, compare
from tests.compat.cases import BREAK, CASES, OK, UNDECIDED


def verdict(comparison: Comparison, direction: str) -> str:
    mode: Any = direction
    if comparison.breaking(mode):
        return BREAK
    if comparison.undecided(mode):
        return UNDECIDED
    return OK


def test_the_table_is_large_enough_and_ids_are_unique() -> None:
    ids = [case[0] for case in CASES]
    assert len(ids) >= 150
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize(
    ("old", "new", "backward", "forward", "codes"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_rule(old: Any, new: Any, backward: str, forward: str, codes: set[str]) -> None:
    comparison = compare(old, new)
    got = (verdict(comparison, "backward"), verdict(comparison, "forward"))
    lines = [c.line() for c in comparison.changes]
    assert got == (backward, forward), lines
    assert {c.code for c in comparison.changes} == codes, lines
    full_ok = backward == OK and forward == OK
    assert comparison.proven("full") is full_ok
