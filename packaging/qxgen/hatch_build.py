"""Put the repository's qxgen/ and templates/ into the qxgen wheel without moving them.

``force-include`` in pyproject.toml would also copy them into an editable install, where the
copy would shadow the source tree; here they are added to regular wheels only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

REPO = Path(__file__).resolve().parents[2]


class CustomBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if version == "editable":
            return
        build_data["force_include"][str(REPO / "qxgen")] = "qxgen"
        build_data["force_include"][str(REPO / "templates")] = "qxgen/_templates"
