"""A PostgreSQL database of its own for a test run, on the machine's server.

The server (trust authentication, database ``test``) is shared with other
engineers and parallel test workers, so every run creates a database with a
random name and drops it afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

__all__ = ["ADMIN_DSN", "postgres_database"]

ADMIN_DSN = os.environ.get("VEXPORT_TEST_POSTGRES", "host=127.0.0.1 port=5432 dbname=test")


def _admin() -> psycopg.Connection[tuple[object, ...]]:
    last: Exception | None = None
    for user in ("root", "postgres"):
        try:
            return psycopg.connect(f"{ADMIN_DSN} user={user}", autocommit=True, connect_timeout=5)
        except psycopg.OperationalError as exc:
            last = exc
    raise RuntimeError(f"no PostgreSQL at {ADMIN_DSN!r} (as root or postgres): {last}")


@contextmanager
def postgres_database(prefix: str = "vexport_test") -> Iterator[str]:
    """A fresh database; yields its SQLAlchemy URL (psycopg 3)."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with _admin() as admin:
        user = admin.info.user
        admin.execute(f'CREATE DATABASE "{name}"')
    params = dict(part.split("=", 1) for part in ADMIN_DSN.split())
    host, port = params.get("host", "127.0.0.1"), params.get("port", "5432")
    try:
        yield f"postgresql+psycopg://{user}@{host}:{port}/{name}"
    finally:
        with _admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
