from __future__ import annotations

import json
import logging

import pytest

from qx.core import RequestContext, use_context
from qx.log import RequestContextFilter, _JsonFormatter


def test_log_records_carry_correlation_and_tenant(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("qx.test.log")
    caplog.handler.addFilter(RequestContextFilter())
    with caplog.at_level(logging.INFO, logger="qx.test.log"):
        with use_context(RequestContext(correlation_id="c-1", tenant_id="acme")):
            logger.info("inside")
        logger.info("outside")
    inside, outside = caplog.records
    assert (inside.correlation_id, inside.tenant_id) == ("c-1", "acme")  # type: ignore[attr-defined]
    assert (outside.correlation_id, outside.tenant_id) == (None, None)  # type: ignore[attr-defined]
    doc = json.loads(_JsonFormatter().format(inside))
    assert doc["correlation_id"] == "c-1"
    assert doc["message"] == "inside"
