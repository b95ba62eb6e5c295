"""A database made before cloud_id existed gets the column when the store opens it."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from vexport.media.plan import ExportKind
from vexport.sessions.model import ResultFile, Session
from vexport.sessions.store import SessionStore

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_old_database_gains_cloud_id(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    SessionStore(f"sqlite:///{path}").close()
    with sqlite3.connect(path) as db:  # back to the schema of the first release
        db.execute("ALTER TABLE result_files DROP COLUMN cloud_id")
    store = SessionStore(f"sqlite:///{path}")
    store.add(Session("s1", 0, NOW, "agent", ExportKind.ARCHIVE_CLIP, b"", {}))
    file = ResultFile("a.mp4", "cam", 1, NOW, NOW, "video/mp4", "0" * 64, "s3://b/k/a.mp4")
    assert store.complete("s1", succeeded=True, error="", files=[file], now=NOW, last_frame=None)
    got = store.get("s1")
    store.close()
    assert got is not None and got.files == [file]
