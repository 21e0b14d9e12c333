"""Maps (event type, version) to the event class, and turns a decoded envelope into an event."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from opentelemetry import trace
from pydantic import ValidationError

from qx.events._base import EventMeta, IntegrationEvent, event_meta
from qx.events._validation import PayloadValidator, compile_validator
from qx.exceptions import ConfigurationError, SchemaViolationError, UnknownEventTypeError

log = logging.getLogger("qx.events")

S = TypeVar("S", bound=IntegrationEvent)
T = TypeVar("T", bound=IntegrationEvent)

# Span attributes of an upcast message (the consumer span is the current span in build()).
UPCAST_FROM = "qx.event.upcast_from_version"
UPCAST_TO = "qx.event.upcast_to_version"


@dataclass(frozen=True, slots=True)
class _Upcaster:
    target: type[IntegrationEvent]
    version: int
    upcast: Callable[[Any], IntegrationEvent]


if TYPE_CHECKING:  # optional: only schemas with external $refs need it (qx-nats[refs])
    import referencing


@dataclass(frozen=True, slots=True)
class RegisteredEvent:
    cls: type[IntegrationEvent]
    meta: EventMeta
    validator: PayloadValidator | None


class EventRegistry:
    """The events a service understands.

    ``validate_payloads`` (on by default) checks the raw JSON against each event's schema before
    pydantic builds the model, so the worker accepts exactly what the schema accepts.
    """

    def __init__(
        self,
        *,
        validate_payloads: bool = True,
        schema_resources: referencing.Registry[Any] | None = None,
    ) -> None:
        self.validate_payloads = validate_payloads
        self._resources = schema_resources
        self._by_key: dict[tuple[str, int], RegisteredEvent] = {}
        self._versions: dict[str, list[int]] = {}
        self._upcasters: dict[tuple[str, int], _Upcaster] = {}

    def register_upcaster(self, source: type[S], target: type[T], upcast: Callable[[S], T]) -> None:
        """Turn every ``source`` message into a ``target`` event before dispatch, so the
        handler of the newer version also receives the older messages. The payload is still
        validated against the older schema first; chains (v1 -> v2 -> v3) compose."""
        src, dst = event_meta(source), event_meta(target)
        if src.type != dst.type or dst.version <= src.version:
            raise ConfigurationError(
                f"an upcaster goes from an older to a newer version of one event type, not "
                f"{src.type} v{src.version} -> {dst.type} v{dst.version}"
            )
        for cls in (source, target):
            if self.by_class(cls).cls is not cls:
                raise ConfigurationError(f"{cls.__qualname__} is not the registered class")
        key = (src.type, src.version)
        if key in self._upcasters:
            raise ConfigurationError(f"{src.type} v{src.version} already has an upcaster")
        self._upcasters[key] = _Upcaster(target, dst.version, upcast)
        log.info(
            "%s v%d messages are upcast to v%d (%s)",
            src.type,
            src.version,
            dst.version,
            getattr(upcast, "__qualname__", repr(upcast)),
        )

    def register(
        self, cls: type[IntegrationEvent], *, schema: Mapping[str, Any] | None = None
    ) -> type[IntegrationEvent]:
        meta = event_meta(cls)
        key = (meta.type, meta.version)
        existing = self._by_key.get(key)
        if existing is not None and existing.cls is not cls:
            raise ConfigurationError(
                f"event {meta.type} v{meta.version} is registered twice "
                f"({existing.cls.__qualname__} and {cls.__qualname__}); keep one"
            )
        validator = (
            compile_validator(schema, self._resources)
            if schema is not None and self.validate_payloads
            else None
        )
        self._by_key[key] = RegisteredEvent(cls, meta, validator)
        self._versions.setdefault(meta.type, [])
        if meta.version not in self._versions[meta.type]:
            self._versions[meta.type].append(meta.version)
            self._versions[meta.type].sort()
        return cls

    def __iter__(self) -> Iterator[RegisteredEvent]:
        return iter(self._by_key.values())

    def __len__(self) -> int:
        return len(self._by_key)

    @property
    def subjects(self) -> list[str]:
        return sorted({r.meta.subject for r in self._by_key.values()})

    def versions(self, event_type: str) -> list[int]:
        return list(self._versions.get(event_type, ()))

    def get(self, event_type: str, version: int) -> RegisteredEvent:
        found = self._by_key.get((event_type, version))
        if found is None:
            known = self._versions.get(event_type)
            hint = (
                f"known versions: {', '.join(map(str, known))}"
                if known
                else "this service registers no event of that type"
            )
            raise UnknownEventTypeError(f"unknown event {event_type} v{version} ({hint})")
        return found

    def by_class(self, cls: type[IntegrationEvent]) -> RegisteredEvent:
        meta = event_meta(cls)
        return self.get(meta.type, meta.version)

    def resolve_version(self, event_type: str, version: int | None) -> int:
        """The version to use when the producer did not say; only unambiguous cases resolve."""
        if version is not None:
            return version
        known = self._versions.get(event_type)
        if not known:
            raise UnknownEventTypeError(f"unknown event type {event_type!r}")
        if len(known) == 1:
            return known[0]
        raise UnknownEventTypeError(
            f"event {event_type} arrived without a version and this service knows several "
            f"({', '.join(map(str, known))}); send a .vN suffix on the type, a dataschema or "
            "a versioned subject"
        )

    def build(self, event_type: str, version: int | None, data: Any) -> IntegrationEvent:
        """Validate ``data`` and build the event; raises PoisonMessageError if unusable."""
        entry = self.get(event_type, self.resolve_version(event_type, version))
        if entry.validator is not None:
            entry.validator(data)
        try:
            event = entry.cls.model_validate(data)
        except ValidationError as exc:
            errors = [
                "/" + "/".join(str(p) for p in err["loc"]) + ": " + err["msg"]
                for err in exc.errors()
            ]
            raise SchemaViolationError(
                f"payload does not match {entry.cls.__qualname__}: " + "; ".join(errors[:5]),
                errors,
            ) from None
        if self._upcasters:
            return self._upcast(event, entry.meta.type, entry.meta.version)
        return event

    def _upcast(self, event: IntegrationEvent, event_type: str, version: int) -> IntegrationEvent:
        first = version
        while (step := self._upcasters.get((event_type, version))) is not None:
            result = step.upcast(event)
            if not isinstance(result, step.target):
                raise TypeError(
                    f"the upcaster {event_type} v{version} -> v{step.version} returned "
                    f"{type(result).__qualname__}, not {step.target.__qualname__}"
                )
            event, version = result, step.version
        if version != first:
            span = trace.get_current_span()
            if span.is_recording():
                span.set_attribute(UPCAST_FROM, first)
                span.set_attribute(UPCAST_TO, version)
            log.info("upcast %s v%d -> v%d", event_type, first, version)
        return event
