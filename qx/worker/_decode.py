"""Decode: a delivery's facts -> (envelope, typed event), or the poison outcome. Pure."""

from __future__ import annotations

from qx.events import Envelope, EventRegistry, IntegrationEvent, parse_envelope
from qx.exceptions import PoisonMessageError
from qx.worker._decision import Outcome
from qx.worker._facts import Delivery

Decoded = tuple[Envelope, IntegrationEvent]


def decode(delivery: Delivery, registry: EventRegistry) -> Decoded | Outcome:
    """The envelope and the validated event; anything that makes the message unusable is a
    ``poison`` outcome (dead-lettered at once: retrying cannot make it decodable)."""
    try:
        env = parse_envelope(delivery.subject, delivery.headers, delivery.body, lowered=True)
        return env, registry.build(env.event_type, env.event_version, env.data)
    except PoisonMessageError as exc:
        return Outcome("poison", exc.reason, type(exc).__name__, exc.message, False, exc)
    except Exception as exc:  # e.g. RecursionError from absurdly nested JSON
        message = f"message could not be decoded: {type(exc).__name__}: {exc}"
        return Outcome("poison", "undecodable", type(exc).__name__, message, False, exc)
