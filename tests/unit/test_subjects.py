from __future__ import annotations

import pytest

from qx.transport._provision import subject_covers


@pytest.mark.parametrize(
    ("pattern", "subject", "covered"),
    [
        ("orders.>", "orders.order.placed.v1", True),
        ("orders.>", "orders", False),
        ("orders.*", "orders.placed", True),
        ("orders.*", "orders.placed.v1", False),
        ("orders.*.v1", "orders.placed.v1", True),
        ("orders.*", "orders.>", False),
        (">", "anything.at.all", True),
        ("a.b", "a.b", True),
        ("a.b", "a.c", False),
        ("a.b.c", "a.b", False),
        ("a.>", "a.>", True),
        ("a.*", "a.*", True),
    ],
)
def test_subject_covers(pattern: str, subject: str, covered: bool) -> None:
    assert subject_covers(pattern, subject) is covered
