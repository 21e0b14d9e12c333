"""One compat run: the changes of every event against one or more baselines, and the verdict."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from qxgen.compat._compare import Change, Comparison, Mode, compare
from qxgen.compat._sources import EventKey, EventSchema

EVENT_REMOVED = Change(
    "EVENT_REMOVED",
    "",
    "",
    "messages of this event already in the stream cannot be decoded any more (they go to the "
    "DLQ); keep the schema until none are left",
    frozenset({"backward"}),
)


def subject_changed(old: str, new: str) -> Change:
    """Moving an event to another subject breaks both directions whatever its schema: the
    consumer's filter follows the new subject, so messages already stored (and producers still
    deployed) on the old one are no longer consumed; a new subject is a new version."""
    return Change(
        "SUBJECT_CHANGED",
        "/x-qx-event/subject",
        f"{old} → {new}",
        "messages already in the stream on the old subject, and those producers still send "
        "there, are no longer consumed; keep the subject and add the move as version N+1",
        frozenset({"backward", "forward"}),
    )


@dataclass(frozen=True, slots=True)
class EventResult:
    type: str
    version: int
    file: str
    against: str
    comparison: Comparison


@dataclass(slots=True)
class RunResult:
    mode: Mode
    strict: bool
    results: list[EventResult] = field(default_factory=list)
    compared: int = 0

    @property
    def compatible(self) -> bool:
        return all(r.comparison.compatible(self.mode, strict=self.strict) for r in self.results)

    def failing(self) -> list[EventResult]:
        return [
            r for r in self.results if not r.comparison.compatible(self.mode, strict=self.strict)
        ]

    def lines(self, *, show_all: bool) -> list[str]:
        out: list[str] = []
        for result in self.results:
            shown = [c for c in result.comparison.changes if show_all or c.is_breaking(self.mode)]
            if not shown:
                continue
            out.append(f"{result.type} v{result.version} ({result.file}) against {result.against}:")
            for change in shown:
                tag = (
                    "undecided"
                    if change.undecided and change.is_breaking(self.mode)
                    else "breaking"
                    if change.is_breaking(self.mode)
                    else "compatible"
                )
                out.append(f"  {tag:<10} {change.line()}")
        breaking = sum(len(r.comparison.breaking(self.mode)) for r in self.results)
        undecided = sum(len(r.comparison.undecided(self.mode)) for r in self.results)
        events = len({(r.type, r.version) for r in self.failing()})
        summary = f"{self.compared} compared"
        if self.compatible:
            extra = f", {undecided} undecided (--strict fails on them)" if undecided else ""
            out.append(f"{self.mode} compatible ({summary}{extra})")
        else:
            out.append(
                f"not {self.mode} compatible: {breaking} breaking, {undecided} undecided in "
                f"{events} event(s) ({summary}); add the change as version N+1"
            )
        return out

    def as_json(self, *, show_all: bool) -> str:
        doc: dict[str, Any] = {
            "mode": self.mode,
            "strict": self.strict,
            "compatible": self.compatible,
            "compared": self.compared,
            "events": [
                {
                    "type": r.type,
                    "version": r.version,
                    "file": r.file,
                    "against": r.against,
                    "compatible": r.comparison.compatible(self.mode, strict=self.strict),
                    "changes": [
                        c.as_json(self.mode)
                        for c in r.comparison.changes
                        if show_all or c.is_breaking(self.mode)
                    ],
                }
                for r in self.results
            ],
        }
        return json.dumps(doc, indent=2, ensure_ascii=False)


def run(
    current: dict[EventKey, EventSchema],
    baselines: Iterable[tuple[str, dict[EventKey, EventSchema]]],
    *,
    mode: Mode,
    strict: bool,
) -> RunResult:
    result = RunResult(mode, strict)
    seen: set[tuple[str, str, str | None, str | None]] = set()
    for label, baseline in baselines:
        for key in sorted(baseline):
            old = baseline[key]
            new = current.get(key)
            if new is None:
                result.results.append(
                    EventResult(key[0], key[1], old.where, label, Comparison([EVENT_REMOVED]))
                )
                continue
            pair = (_dump(old.schema), _dump(new.schema), old.subject, new.subject)
            if pair in seen:
                continue  # the same revision again (--transitive): judged already
            seen.add(pair)
            result.compared += 1
            comparison = compare(old.schema, new.schema)
            if old.subject and new.subject and old.subject != new.subject:
                comparison.changes.insert(0, subject_changed(old.subject, new.subject))
            result.results.append(EventResult(key[0], key[1], new.where, label, comparison))
    return result


def _dump(schema: Any) -> str:
    return json.dumps(schema, sort_keys=True)
