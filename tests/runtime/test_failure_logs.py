"""A handler's exception is logged once with its traceback: warning on retry, error on DLQ."""

from __future__ import annotations

import logging

import pytest
from nats.aio.client import Client

from qx.core import Result
from qx.cqrs import integration_event_handler
from qx.testing import WorkerHarness
from tests.runtime.conftest import Names, WorkerFactory
from tests.runtime.events import OrderPlaced
from tests.runtime.helpers import publish

pytestmark = pytest.mark.nats


def charge(order_id: str) -> None:
    raise ConnectionError(f"payment gateway refused {order_id}")


async def test_handler_exception_is_logged_with_traceback_retry_warning_dlq_error(
    make_worker: WorkerFactory, nc: Client, names: Names, caplog: pytest.LogCaptureFixture
) -> None:
    @integration_event_handler(OrderPlaced)
    class Charge:
        async def handle(self, event: OrderPlaced) -> Result[None]:
            charge(event.order_id)
            return Result.success(None)

    caplog.set_level(logging.INFO, logger="qx")
    async with WorkerHarness(make_worker([Charge])) as h:  # max_deliver=3
        await publish(nc, names.prefix, OrderPlaced(order_id="o-1", total=1))
        await h.wait_for(lambda s: [x.decision for x in s] == ["nak", "nak", "dead_letter"])
    failures = [
        r for r in caplog.records if r.name == "qx.worker" and "handler_error on" in r.getMessage()
    ]
    assert [r.levelno for r in failures] == [logging.WARNING, logging.WARNING, logging.ERROR]
    for record in failures:
        assert record.exc_info is not None
        exc = record.exc_info[1]
        assert isinstance(exc, ConnectionError)
        text = caplog.handler.format(record)
        assert "Traceback (most recent call last)" in text
        assert "in charge" in text  # the frame where the handler's code failed
        assert "payment gateway refused o-1" in text
    assert "retry in" in failures[0].getMessage()
    assert "dead-letter (max_deliver_exceeded:handler_error)" in failures[2].getMessage()


async def test_result_failure_is_logged_without_traceback(
    make_worker: WorkerFactory, nc: Client, names: Names, caplog: pytest.LogCaptureFixture
) -> None:
    @integration_event_handler(OrderPlaced)
    class Refuse:
        async def handle(self, event: OrderPlaced) -> Result[None]:
            return Result.failure("customer blocked", retryable=False)

    caplog.set_level(logging.INFO, logger="qx")
    async with WorkerHarness(make_worker([Refuse])) as h:
        await publish(nc, names.prefix, OrderPlaced(order_id="o-2", total=1))
        await h.wait_settled(1)
    (record,) = [
        r for r in caplog.records if r.name == "qx.worker" and "handler_failed on" in r.getMessage()
    ]
    assert record.levelno == logging.ERROR
    assert record.exc_info is None
    assert "customer blocked" in record.getMessage()
