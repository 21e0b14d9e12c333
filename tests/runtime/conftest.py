"""Builds a worker wired to a real nats-server with short timings, one stream per test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import nats
import pytest
from nats.aio.client import Client

from qx.cqrs import Mediator
from qx.events import ConsumerSettings, EventRegistry, NatsConsumer, NatsSettings
from qx.worker import RetryPolicy, WorkerRuntime
from tests.runtime.events import ORDER_SCHEMA, OrderPlaced, UserRegistered

FAST_RETRY = RetryPolicy(base_delay=0.1, factor=2.0, max_delay=1.0)


@dataclass
class Names:
    stream: str
    durable: str
    prefix: str
    dlq_stream: str
    dlq_prefix: str
    advisory_stream: str

    def consumer_settings(self, **overrides: Any) -> ConsumerSettings:
        values: dict[str, Any] = {
            "stream": self.stream,
            "durable": self.durable,
            "subjects": [f"{self.prefix}.>"],
            "ack_wait": 2.0,
            "max_deliver": 3,
            "dlq_stream": self.dlq_stream,
            "dlq_subject_prefix": self.dlq_prefix,
            "advisory_stream": self.advisory_stream,
        }
        values.update(overrides)
        return ConsumerSettings(**values)


@pytest.fixture
def names(unique_name: str) -> Names:
    low = unique_name.lower()
    return Names(
        stream=unique_name,
        durable=f"{unique_name}_worker",
        prefix=low,
        dlq_stream=f"{unique_name}_DLQ",
        dlq_prefix=f"{low}dlq",
        advisory_stream=f"{unique_name}_ADV",
    )


@pytest.fixture
def registry() -> EventRegistry:
    reg = EventRegistry()
    reg.register(OrderPlaced, schema=ORDER_SCHEMA)
    reg.register(UserRegistered)
    return reg


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[Client]:
    client = await nats.connect(nats_url)
    yield client
    await client.close()


WorkerFactory = Callable[..., WorkerRuntime]


@pytest.fixture
def make_worker(nats_url: str, names: Names, registry: EventRegistry) -> WorkerFactory:
    def make(
        handlers: list[type[Any]],
        *,
        container: Any = None,
        consumer_overrides: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> WorkerRuntime:
        consumer = NatsConsumer(
            NatsSettings(url=nats_url, reconnect_time_wait=0.2),
            names.consumer_settings(**(consumer_overrides or {})),
        )
        kwargs.setdefault("retry", FAST_RETRY)
        kwargs.setdefault("fetch_timeout", 0.5)
        kwargs.setdefault("shutdown_timeout", 5.0)
        return WorkerRuntime(
            consumer=consumer,
            registry=kwargs.pop("registry", registry),
            mediator=Mediator(handlers),
            container=container,
            **kwargs,
        )

    return make
