"""``[tool.qxgen.worker]``: defaults baked into the generated worker, judged by the runtime.

The settings themselves (names, types, bounds, docs) are defined once, in
``qx.worker.WorkerSettings``; this module only reads the table, asks ``WorkerSettings`` whether
each value is acceptable (the same rules ``QX_*`` variables meet at start), and renders the
accepted values as the Python literals of the generated ``Settings.service_defaults``.
"""

from __future__ import annotations

import json
from typing import Any

from qx.worker import WorkerSettings
from qxgen.errors import ConfigError

# Set by their own [tool.qxgen] keys, which also name the generated registry's constants.
_OWN_KEYS = ("stream", "durable")


def read_worker_defaults(table: Any, where: str) -> dict[str, Any]:
    """The validated ``[tool.qxgen.worker]`` table of ``where`` (a pyproject path)."""
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: [tool.qxgen.worker] must be a table")
    values = {str(k).replace("-", "_"): v for k, v in table.items()}
    for key in _OWN_KEYS:
        if key in values:
            raise ConfigError(f"{where}: set {key} in [tool.qxgen], not in [tool.qxgen.worker]")
    problems = WorkerSettings.check_defaults(values)
    if problems:
        raise ConfigError(f"{where}: [tool.qxgen.worker] " + "; ".join(problems))
    return dict(sorted(values.items()))


def default_lines(worker: dict[str, Any]) -> list[str]:
    """``"name": literal`` entries of ``service_defaults`` (stream/durable come first)."""
    lines = ['"stream": STREAM', '"durable": DURABLE']
    for key, value in worker.items():
        literal = json.dumps(value) if isinstance(value, str) else repr(value)
        lines.append(f"{json.dumps(key)}: {literal}")
    return lines
