"""Transactional outbox and inbox on SQLAlchemy 2 async: SQLite (default) or PostgreSQL.

* ``Outbox.add(session, event)`` queues an event in the caller's transaction;
* ``Relay`` publishes committed rows to JetStream (``qxgen relay``, ``python -m <pkg>.relay``);
* ``@idempotent()`` makes a handler run once per event, with its own events sent via the outbox.

Needs the ``outbox`` extra: ``pip install 'qx-nats[outbox]'``.
"""

import importlib.util

from qx.exceptions import MissingDependencyError

if importlib.util.find_spec("sqlalchemy") is None or importlib.util.find_spec("aiosqlite") is None:
    raise MissingDependencyError(
        "qx.outbox needs the outbox extra: pip install 'qx-nats[outbox]' (SQLAlchemy, aiosqlite, "
        "asyncpg)"
    )

from qx.outbox._database import async_url, create_engine
from qx.outbox._inbox import UsesOutbox, idempotent
from qx.outbox._main import relay_main, relay_process, run_relay
from qx.outbox._migrate import migrate, migrations, schema_sql
from qx.outbox._outbox import Outbox, Transaction
from qx.outbox._relay import CHANNEL, Relay, RelayStats
from qx.outbox._settings import RelaySettings

__all__ = [
    "CHANNEL",
    "Outbox",
    "Relay",
    "RelaySettings",
    "RelayStats",
    "Transaction",
    "UsesOutbox",
    "async_url",
    "create_engine",
    "idempotent",
    "migrate",
    "migrations",
    "relay_main",
    "relay_process",
    "run_relay",
    "schema_sql",
]
