"""Comparing two bundled schemas in both directions and judging the result per mode."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from qxgen.compat._subset import Checker, Finding

Mode = Literal["backward", "forward", "full"]
MODES: tuple[Mode, ...] = ("backward", "forward", "full")
_DIRECTIONS: dict[str, frozenset[str]] = {
    "backward": frozenset({"backward"}),
    "forward": frozenset({"forward"}),
    "full": frozenset({"backward", "forward"}),
}


@dataclass(frozen=True, slots=True)
class Change:
    """One difference: a stable ``code``, where (JSON pointer into the schema, refs inlined),
    the values (``old → new``) and what it does to messages. ``breaks`` names the directions
    it breaks: ``backward`` (new consumers reading old messages), ``forward`` (old consumers
    reading new messages)."""

    code: str
    pointer: str
    detail: str
    sentence: str
    breaks: frozenset[str]
    undecided: bool = False

    def line(self) -> str:
        detail = f" {self.detail}" if self.detail else ""
        return f"#{self.pointer}: {self.code}{detail}: {self.sentence}"

    def as_json(self, mode: Mode) -> dict[str, Any]:
        return {
            "code": self.code,
            "pointer": "#" + self.pointer,
            "detail": self.detail,
            "message": self.sentence,
            "breaks": sorted(self.breaks),
            "breaking": self.is_breaking(mode),
            "undecided": self.undecided,
        }

    def is_breaking(self, mode: Mode) -> bool:
        return bool(self.breaks & _DIRECTIONS[mode])


@dataclass(frozen=True, slots=True)
class Comparison:
    changes: list[Change] = field(default_factory=list)

    def breaking(self, mode: Mode) -> list[Change]:
        return [c for c in self.changes if c.is_breaking(mode) and not c.undecided]

    def undecided(self, mode: Mode) -> list[Change]:
        return [c for c in self.changes if c.is_breaking(mode) and c.undecided]

    def compatible(self, mode: Mode, *, strict: bool = False) -> bool:
        """True when nothing breaks ``mode``; an undecided change fails only under ``strict``."""
        return not self.breaking(mode) and not (strict and self.undecided(mode))

    def proven(self, mode: Mode) -> bool:
        """True only when compatibility is proven (nothing breaking, nothing undecided)."""
        return not self.breaking(mode) and not self.undecided(mode)


def compare(old: Any, new: Any) -> Comparison:
    """Every change from ``old`` to ``new`` (bundled schemas: refs only into their ``$defs``)."""
    backward = Checker(old, new).run()
    forward = Checker(new, old, flipped=True).run()
    merged: dict[tuple[str, str, str], tuple[Finding, set[str]]] = {}
    for direction, findings in (("backward", backward), ("forward", forward)):
        for finding in findings:
            key = (finding.code, finding.pointer, finding.detail)
            if key in merged:
                merged[key][1].add(direction)
            else:
                merged[key] = (finding, {direction})
    changes = [
        Change(f.code, f.pointer, f.detail, f.sentence, frozenset(dirs), f.undecided)
        for f, dirs in merged.values()
    ]
    changes.sort(key=lambda c: (c.pointer, c.code, c.detail))
    return Comparison(changes)
