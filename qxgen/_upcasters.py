"""Upcaster scaffolds: when an event type gains a version, the user gets a typed stub
``upcasters/<old>_to_v<new>.py`` (created once, never overwritten) and, the first time, an
``upcasters/__init__.py`` whose ``register_upcasters`` the generated registry calls.

Stubs are not registered until the user says so in ``upcasters/__init__.py``: until then the
older version keeps going to its own handler, so a half-written upcaster never takes traffic.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, Protocol

from qxgen import _render
from qxgen._naming import snake_case
from qxgen.output import OutputFile


class _Event(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def version(self) -> int: ...
    @property
    def handler(self) -> str: ...


@dataclass(frozen=True, slots=True)
class UpcasterView:
    """One step ``source -> target`` between consecutive versions of one event type."""

    type: str
    source: str
    source_version: int
    target: str
    target_version: int
    target_handler: str
    module: str


def upcaster_views(events: Sequence[_Event]) -> list[UpcasterView]:
    ordered = sorted(events, key=lambda e: (e.type, e.version))
    views = []
    for old, new in itertools.pairwise(ordered):
        if old.type != new.type:
            continue
        views.append(
            UpcasterView(
                type=old.type,
                source=old.name,
                source_version=old.version,
                target=new.name,
                target_version=new.version,
                target_handler=new.handler,
                module=f"{snake_case(old.name, fallback='event')}_to_v{new.version}",
            )
        )
    return views


def upcaster_scaffold(
    env: _render.Environment,
    context: Mapping[str, Any],
    views: Sequence[UpcasterView],
    package_rel: PurePosixPath,
    display: str,
) -> list[OutputFile]:
    """The scaffold files (``owned=False``: written once) for ``views``; none without any."""
    if not views:
        return []
    folder = package_rel / "upcasters"
    files = [
        OutputFile(
            str(folder / "__init__.py"),
            _render.python(_render.render(env, "upcasters_init.py.jinja", **context)),
            owned=False,
        )
    ]
    for view in views:
        path = folder / f"{view.module}.py"
        files.append(
            OutputFile(
                str(path),
                _render.python(
                    _render.render(
                        env,
                        "upcaster.py.jinja",
                        **context,
                        upcaster=view,
                        path=f"{display.rstrip('/')}/{path}" if display != "." else str(path),
                    )
                ),
                owned=False,
            )
        )
    return files
