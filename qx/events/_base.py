"""The base class of every event, carrying its wire identity as class-level metadata.

Metadata lives in dunder ClassVars so it can never clash with a schema property called
``type`` or ``version``; generated classes set them, hand-written ones may too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import BaseModel

from qx.exceptions import ConfigurationError


@dataclass(frozen=True, slots=True)
class EventMeta:
    type: str
    version: int
    subject: str
    stream: str | None = None


class IntegrationEvent(BaseModel):
    """Base for integration events. Subclasses set ``__qx_type__`` and ``__qx_version__``."""

    __qx_type__: ClassVar[str]
    __qx_version__: ClassVar[int]
    __qx_subject__: ClassVar[str | None] = None
    __qx_stream__: ClassVar[str | None] = None

    def to_json_data(self) -> dict[str, Any]:
        """The JSON body sent on the wire (aliases, unset fields omitted so defaults apply)."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)


def default_subject(event_type: str, version: int) -> str:
    return f"{event_type}.v{version}"


def event_meta(cls: type[IntegrationEvent]) -> EventMeta:
    """Read and check an event class's metadata; explains what to set if it is missing."""
    event_type = getattr(cls, "__qx_type__", None)
    version = getattr(cls, "__qx_version__", None)
    if not isinstance(event_type, str) or not event_type:
        raise ConfigurationError(
            f'{cls.__qualname__} has no event type: set `__qx_type__ = "domain.thing.happened"`'
        )
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ConfigurationError(
            f"{cls.__qualname__} has no valid version: set `__qx_version__` to an int >= 1"
        )
    subject = getattr(cls, "__qx_subject__", None) or default_subject(event_type, version)
    return EventMeta(event_type, version, subject, getattr(cls, "__qx_stream__", None))
