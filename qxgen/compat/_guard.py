"""``qxgen generate`` refuses to rewrite a committed (type, version) incompatibly.

The committed contract of an event is its bundled schema in ``event_schemas/`` (what the last
``generate`` wrote and the runtime validates against); the new one is what this run would
write. No git needed: the file on disk is what the deployed consumers have.
"""

from __future__ import annotations

import json
import re
from pathlib import Path, PurePosixPath

from qxgen.compat._compare import compare
from qxgen.errors import QxgenError
from qxgen.output import Plan

_SCHEMA_FILE = re.compile(r"^(?P<type>.+)\.v(?P<version>[0-9]+)\.json$")


class BreakingChangeError(QxgenError):
    """A committed event schema would change in a way old messages do not survive."""


def check_generate(plan: Plan, out: Path) -> None:
    """Raise BreakingChangeError if a planned event schema breaks its committed version."""
    problems: list[str] = []
    for file in plan.owned:
        path = PurePosixPath(file.path)
        match = _SCHEMA_FILE.match(path.name)
        if path.parent.name != "event_schemas" or match is None:
            continue
        target = out / file.path
        try:
            old = json.loads(target.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # new, or unreadable: nothing committed to protect
        new = json.loads(file.content)
        comparison = compare(old, new)
        breaking = comparison.breaking("backward")
        if not breaking:
            continue
        version = int(match.group("version"))
        problems.append(
            f"{match.group('type')} v{version} is not backward compatible with the committed "
            f"{file.path}:"
        )
        problems += [f"  {change.line()}" for change in breaking]
        problems.append(
            f"  keep v{version} as it is and add the change as a new file with "
            f'"x-qx-event": {{"version": {version + 1}}} (qxgen scaffolds an upcaster), '
            "or pass --allow-breaking if no such message can still be in flight"
        )
    if problems:
        raise BreakingChangeError(
            "refusing to overwrite committed event schemas\n" + "\n".join(problems)
        )
