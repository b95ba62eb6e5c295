"""Alembic's environment: migrations run on the connection ``vexport.jobs.migrate`` hands in.

From the command line (``alembic -c alembic.ini …``, for writing a new
revision) the URL comes from ``sqlalchemy.url`` or ``VEXPORT_DATABASE_URL``.
"""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import create_engine

from vexport.jobs.tables import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite alters tables by copying them
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    url = os.environ.get("VEXPORT_DATABASE_URL") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("set sqlalchemy.url or VEXPORT_DATABASE_URL")
    with create_engine(url).begin() as own:
        _run(own)
