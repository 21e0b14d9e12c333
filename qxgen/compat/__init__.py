"""``qxgen compat``: is a schema change safe for the messages already in flight?

``compare(old, new)`` lists every change with a stable code, the JSON pointer and what it
does to messages; ``Comparison.compatible(mode)`` judges it for ``backward`` (new consumers
read old messages), ``forward`` (old consumers read new messages) or ``full`` (both).
"""

from qxgen.compat._compare import MODES, Change, Comparison, Mode, compare
from qxgen.compat._guard import BreakingChangeError, check_generate
from qxgen.compat._run import EventResult, RunResult, run
from qxgen.compat._sources import (
    EventKey,
    EventSchema,
    GitRefError,
    checkout_schemas,
    file_schema,
    project_schemas,
    revisions,
    schemas_at,
)

__all__ = [
    "MODES",
    "BreakingChangeError",
    "Change",
    "Comparison",
    "EventKey",
    "EventResult",
    "EventSchema",
    "GitRefError",
    "Mode",
    "RunResult",
    "check_generate",
    "checkout_schemas",
    "compare",
    "file_schema",
    "project_schemas",
    "revisions",
    "run",
    "schemas_at",
]
