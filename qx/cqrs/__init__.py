"""Handlers and the mediator that dispatches integration events to them."""

from qx.cqrs._handlers import IntegrationEventHandler, handled_event, integration_event_handler
from qx.cqrs._mediator import Mediator, Resolver

__all__ = [
    "IntegrationEventHandler",
    "Mediator",
    "Resolver",
    "handled_event",
    "integration_event_handler",
]
