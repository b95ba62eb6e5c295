"""Bringing a database to the current schema with Alembic, safely from many processes.

Every process that opens the store runs ``upgrade``: the embedded default
needs no extra step, and replicas started together do not race, because on
PostgreSQL the upgrade holds an advisory lock (the others wait, then find
nothing to do). Databases made before vexport used Alembic are recognised by
their tables and stamped with the revision they match first.
"""

from __future__ import annotations

import logging

from alembic import command
from alembic.config import Config
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine

__all__ = ["HEAD", "alembic_config", "upgrade"]

log = logging.getLogger(__name__)
logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)  # a line per plugin

HEAD = "0005"
_LOCK_KEY = 0x76657870  # "vexp": one advisory lock id for vexport's migrations


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", "vexport.jobs:migrations")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply every migration not yet applied (under a lock on PostgreSQL)."""
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
        config = alembic_config(connection)
        legacy = _legacy_revision(connection)
        if legacy is not None:
            log.info("database made before migrations: stamping revision %s", legacy)
            command.stamp(config, legacy)
        command.upgrade(config, revision)


def _legacy_revision(connection: Connection) -> str | None:
    """The revision a database without ``alembic_version`` already has, if any tables."""
    tables = set(inspect(connection).get_table_names())
    if "alembic_version" in tables or "sessions" not in tables:
        return None
    columns = {c["name"] for c in inspect(connection).get_columns("result_files")}
    return "0002" if "cloud_id" in columns else "0001"
