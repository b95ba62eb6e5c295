"""Alembic migrations: databases made by earlier releases keep their sessions; the schema
the migrations make is the one the models describe."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from vexport.jobs.migrate import HEAD, upgrade
from vexport.jobs.model import JobKind, JobState
from vexport.jobs.store import JobStore
from vexport.jobs.tables import Base

NOW = datetime(2026, 1, 1, tzinfo=UTC)

# The first release's tables, as its create_all made them (SQLite).
FIRST_RELEASE = """
CREATE TABLE sessions (
    seq INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, id VARCHAR(64) NOT NULL,
    created_at DATETIME NOT NULL, agent VARCHAR(255) NOT NULL, kind VARCHAR(32) NOT NULL,
    options BLOB NOT NULL, "plan" JSON NOT NULL, timezone_minutes INTEGER NOT NULL,
    state INTEGER NOT NULL, progress FLOAT NOT NULL, last_frame DATETIME,
    succeeded BOOLEAN NOT NULL, error TEXT NOT NULL, stop_requested BOOLEAN NOT NULL,
    last_poll_at DATETIME, completed_at DATETIME, last_access_at DATETIME, removed_at DATETIME
);
CREATE UNIQUE INDEX ix_sessions_id ON sessions (id);
CREATE TABLE result_files (
    pk INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    session_seq INTEGER NOT NULL REFERENCES sessions (seq) ON DELETE CASCADE,
    position INTEGER NOT NULL, file_id VARCHAR(255) NOT NULL, origin VARCHAR(255) NOT NULL,
    size BIGINT NOT NULL, first_frame DATETIME NOT NULL, last_frame DATETIME NOT NULL,
    mime_type VARCHAR(64) NOT NULL, sha256 VARCHAR(64) NOT NULL
);
"""
PLAN = (
    '{"kind": "archive_clip", "container": "mp4", "output_dir": "/srv/var/results/s1",'
    ' "sources": [{"origin": "cam", "name": "cam", "live_url": null,'
    ' "archive_url": "https://user:pw@nvr.example/cam/index.m3u8"}]}'
)


def _first_release_db(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.executescript(FIRST_RELEASE)
        db.execute(
            "INSERT INTO sessions VALUES (7, 's1', '2026-01-01 00:00:00', 'agent', 'archive_clip',"
            " x'0a00', ?, 60, 2, 1.0, '2026-01-01 00:00:09', 1, '', 0, NULL,"
            " '2026-01-01 00:00:10', '2026-01-01 00:00:10', NULL)",
            (PLAN,),
        )
        db.execute(
            "INSERT INTO sessions VALUES (9, 's2', '2026-01-01 00:01:00', 'agent', 'live_clip',"
            " x'', '{\"kind\": \"live_clip\", \"sources\": []}', 0, 0, 0.0, NULL, 0, '', 0,"
            " NULL, NULL, NULL, NULL)"
        )
        db.execute(
            "INSERT INTO result_files VALUES (1, 7, 0, 'a.mp4', 'cam', 1234,"
            " '2026-01-01 00:00:00', '2026-01-01 00:00:09', 'video/mp4', ?)",
            ("0" * 64,),
        )


def test_a_first_release_database_keeps_its_sessions(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    _first_release_db(path)
    store = JobStore(f"sqlite:///{path}")
    try:
        done = store.get("s1")
        queued = store.get("s2")
        assert done is not None and queued is not None
        assert (done.seq, done.kind, done.state, done.succeeded) == (
            7, JobKind.ARCHIVE_CLIP, JobState.COMPLETED, True,
        )  # fmt: skip
        assert done.timezone_minutes == 60 and done.options == b"\n\x00"
        (file,) = done.files
        assert (file.file_id, file.size, file.cloud_id, file.key) == ("a.mp4", 1234, "", "s1/a.mp4")
        # The stored plan lost its directory and its URLs (credentials stay in the catalog).
        plan = done.request["plan"]
        assert "output_dir" not in plan and "archive_url" not in plan["sources"][0]
        assert queued.state is JobState.NONE and queued.owner is None
        # Page tokens (seq) still point where they did; new jobs come after.
        assert [j.id for j in store.page(before_seq=None, limit=10)] == ["s2", "s1"]
    finally:
        store.close()
    with sqlite3.connect(path) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
        (version,) = db.execute("SELECT version_num FROM alembic_version").fetchone()
    assert "sessions" not in tables and "result_files" not in tables
    assert version == HEAD
    assert b"pw@" not in path.read_bytes()


def test_a_database_with_cloud_ids_and_s3dir_jobs_is_moved_too(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    _first_release_db(path)
    with sqlite3.connect(path) as db:
        db.execute("ALTER TABLE result_files ADD COLUMN cloud_id VARCHAR(1100) NOT NULL DEFAULT ''")
        db.execute("UPDATE result_files SET cloud_id = 's3://b/k/a.mp4'")
        db.execute(
            "CREATE TABLE s3dir_jobs (fingerprint VARCHAR(64) PRIMARY KEY, state VARCHAR(16),"
            " error_code INTEGER, message TEXT, archive TEXT, destination TEXT, video_path TEXT,"
            " image_path TEXT, s3_dir TEXT, lack_ms INTEGER, created_at DATETIME,"
            " finished_at DATETIME)"
        )
        db.execute(
            "INSERT INTO s3dir_jobs VALUES ('f' , 'ready', 5, '', 's3://a/x.m3u8', 's3://d/x.ts',"
            " '/d/x.ts', '/d/x.jpg', 'd/', 120, '2026-01-01 00:00:00', '2026-01-01 00:00:05')"
        )
    store = JobStore(f"sqlite:///{path}")
    try:
        done = store.get("s1")
        assert done is not None and done.files[0].cloud_id == "s3://b/k/a.mp4"
        s3dir = store.get_by_fingerprint("f")
        assert s3dir is not None and s3dir.kind is JobKind.S3DIR and s3dir.succeeded
        assert s3dir.outcome["video_path"] == "/d/x.ts" and s3dir.outcome["lack_ms"] == 120
        assert [j.id for j in store.page(before_seq=None, limit=10)] == ["s2", "s1"]
    finally:
        store.close()


def test_the_migrations_make_the_schema_of_the_models(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'new.db'}")
    upgrade(engine)
    upgrade(engine)  # a second run has nothing to do
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    assert differences == []
