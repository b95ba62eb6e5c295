"""The job store on both databases it runs on: SQLite (embedded) and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.postgres import postgres_database
from vexport.jobs.store import JobStore


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """One database per test process (xdist worker); tests clean their own rows."""
    with postgres_database() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[JobStore]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'jobs.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    store = JobStore(url)
    try:
        yield store
    finally:
        if request.param == "postgresql":
            with store.engine.begin() as connection:
                connection.exec_driver_sql(
                    "TRUNCATE jobs, job_files, leases, auth_sessions, audit_events RESTART IDENTITY"
                )
        store.close()
