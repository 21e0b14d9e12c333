"""qx: typed, schema-driven NATS JetStream event workers.

The runtime is split by concern; import from the subpackages:
``qx.core`` (Result, RequestContext), ``qx.events`` (event classes, wire format, NATS plumbing),
``qx.cqrs`` (handlers and the mediator), ``qx.worker`` (the consumer loop).
"""

__version__ = "0.1.0"
