"""Every error qxgen reports, named after what went wrong.

Errors about a schema carry the file and the JSON pointer of the offending place, so the
message reads like ``schemas/orders/placed.json#/properties/total: ...``.
"""

from __future__ import annotations


class QxgenError(Exception):
    """Base class for errors qxgen reports to the user (exit code 2 on the command line)."""


class ConfigError(QxgenError):
    """``[tool.qxgen]`` or the command-line options are inconsistent."""


class SchemaError(QxgenError):
    """A schema file is unusable. ``location`` is ``<file>#<json pointer>``."""

    def __init__(self, file: str, pointer: str, message: str) -> None:
        self.file = file
        self.pointer = pointer
        self.message = message
        super().__init__(f"{self.location}: {message}")

    @property
    def location(self) -> str:
        return f"{self.file}#{self.pointer}"


class RefError(SchemaError):
    """A ``$ref`` cannot be resolved, or points somewhere it is not allowed to (remote, outside)."""
