"""One job table for every kind of export: sessions and export-to-s3dir jobs move into it.

Revision ID: 0003
Revises: 0002
Create Date: 2026-03-20

``jobs`` takes the sessions (same ``seq``, so page tokens stay valid) and the
export-to-s3dir jobs (kind ``s3dir``, unlisted); every job gains an owner and
a heartbeat lease, its attempt count and its stored ``processing`` text.
``job_files`` takes the result files with their place in the result store
(the old layout, ``<session>/<file>``). Stored plans lose their URLs: the
worker that runs a job resolves its origin in its own catalog.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

from vexport.jobs.tables import UtcDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SEQ = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    jobs = op.create_table(
        "jobs",
        sa.Column("seq", SEQ, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("listed", sa.Boolean(), nullable=False),
        sa.Column("agent", sa.String(255), nullable=False),
        sa.Column("state", sa.Integer(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("options", sa.LargeBinary(), nullable=False),
        sa.Column("timezone_minutes", sa.Integer(), nullable=False),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("last_frame", UtcDateTime(), nullable=True),
        sa.Column("succeeded", sa.Boolean(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("processing", sa.Text(), nullable=False),
        sa.Column("stop_requested", sa.Boolean(), nullable=False),
        sa.Column("owner", sa.String(255), nullable=True),
        sa.Column("lease_expires_at", UtcDateTime(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("published_at", UtcDateTime(), nullable=True),
        sa.Column("publishes", sa.Integer(), nullable=False),
        sa.Column("last_poll_at", UtcDateTime(), nullable=True),
        sa.Column("completed_at", UtcDateTime(), nullable=True),
        sa.Column("last_access_at", UtcDateTime(), nullable=True),
        sa.Column("removed_at", UtcDateTime(), nullable=True),
        sa.Column("fingerprint", sa.String(64), nullable=True),
        sa.Column("outcome", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_jobs"),
        sa.UniqueConstraint("id", name="uq_jobs_id"),
        sa.UniqueConstraint("fingerprint", name="uq_jobs_fingerprint"),
    )
    op.create_index("ix_jobs_state_agent", "jobs", ["state", "agent"])
    op.create_index("ix_jobs_owner", "jobs", ["owner"])
    op.create_index("ix_jobs_state_last_poll_at", "jobs", ["state", "last_poll_at"])
    op.create_index("ix_jobs_state_last_access_at", "jobs", ["state", "last_access_at"])
    op.create_index("ix_jobs_state_completed_at", "jobs", ["state", "completed_at"])
    files = op.create_table(
        "job_files",
        sa.Column("pk", SEQ, primary_key=True, autoincrement=True),
        sa.Column("job_seq", SEQ, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("file_id", sa.String(255), nullable=False),
        sa.Column("origin", sa.String(255), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("first_frame", UtcDateTime(), nullable=False),
        sa.Column("last_frame", UtcDateTime(), nullable=False),
        sa.Column("mime_type", sa.String(64), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("cloud_id", sa.String(1100), nullable=False),
        sa.Column("storage_key", sa.String(1100), nullable=False),
        sa.PrimaryKeyConstraint("pk", name="pk_job_files"),
        sa.ForeignKeyConstraint(
            ["job_seq"], ["jobs.seq"], name="fk_job_files_job_seq_jobs", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_job_files_job_seq", "job_files", ["job_seq"])
    op.create_table(
        "leases",
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_leases"),
    )

    bind = op.get_bind()
    tables = set(sa.inspect(bind).get_table_names())
    _move_sessions(bind, jobs, files)
    if "s3dir_jobs" in tables:
        _move_s3dir_jobs(bind, jobs)
        op.drop_table("s3dir_jobs")
    op.drop_table("result_files")
    op.drop_table("sessions")
    if bind.dialect.name == "postgresql":
        op.execute(
            "SELECT setval(pg_get_serial_sequence('jobs', 'seq'), "
            "COALESCE((SELECT MAX(seq) FROM jobs), 0) + 1, false)"
        )


def _move_sessions(bind: sa.Connection, jobs: sa.Table, files: sa.Table) -> None:
    sessions = sa.table(
        "sessions",
        *(sa.column(name) for name in _SESSION_COLUMNS),
        sa.column("plan", sa.JSON()),
        sa.column("created_at", UtcDateTime()),
        sa.column("last_frame", UtcDateTime()),
        sa.column("last_poll_at", UtcDateTime()),
        sa.column("completed_at", UtcDateTime()),
        sa.column("last_access_at", UtcDateTime()),
        sa.column("removed_at", UtcDateTime()),
    )
    old_files = sa.table(
        "result_files",
        *(sa.column(name) for name in _FILE_COLUMNS),
        sa.column("first_frame", UtcDateTime()),
        sa.column("last_frame", UtcDateTime()),
    )
    ids: dict[int, str] = {}
    for row in bind.execute(sa.select(sessions)).mappings():
        ids[row["seq"]] = row["id"]
        state = int(row["state"])
        bind.execute(
            jobs.insert().values(
                seq=row["seq"],
                id=row["id"],
                kind=row["kind"],
                listed=True,
                agent=row["agent"],
                state=state,
                created_at=row["created_at"],
                request={"plan": _without_urls(row["plan"] or {})},
                options=row["options"],
                timezone_minutes=row["timezone_minutes"] or 0,
                progress=row["progress"] or 0.0,
                last_frame=row["last_frame"],
                succeeded=bool(row["succeeded"]),
                error=row["error"] or "",
                processing="",
                stop_requested=bool(row["stop_requested"]),
                owner=None,
                lease_expires_at=None,
                attempts=1 if state else 0,
                published_at=None,
                publishes=0,
                # Never empty in the new table: the timers' indexes compare them.
                last_poll_at=row["last_poll_at"] or row["created_at"],
                completed_at=row["completed_at"],
                last_access_at=row["last_access_at"] or row["completed_at"],
                removed_at=row["removed_at"],
                fingerprint=None,
                outcome={},
            )
        )
    for row in bind.execute(sa.select(old_files)).mappings():
        session_id = ids.get(row["session_seq"])
        if session_id is None:
            continue
        bind.execute(
            files.insert().values(
                job_seq=row["session_seq"],
                position=row["position"],
                file_id=row["file_id"],
                origin=row["origin"],
                size=row["size"],
                first_frame=row["first_frame"],
                last_frame=row["last_frame"],
                mime_type=row["mime_type"],
                sha256=row["sha256"],
                cloud_id=row.get("cloud_id") or "",
                storage_key=f"{session_id}/{row['file_id']}",
            )
        )


def _move_s3dir_jobs(bind: sa.Connection, jobs: sa.Table) -> None:
    old = sa.table(
        "s3dir_jobs",
        *(sa.column(name) for name in _S3DIR_COLUMNS),
        sa.column("created_at", UtcDateTime()),
        sa.column("finished_at", UtcDateTime()),
    )
    now = datetime.now(UTC)
    for row in bind.execute(sa.select(old)).mappings():
        ready = row["state"] == "ready"
        outcome: dict[str, Any] = {
            "error_code": int(row["error_code"]) if not ready else 5,
            "video_path": row["video_path"] or "",
            "image_path": row["image_path"] or "",
            "s3_dir": row["s3_dir"] or "",
            "lack_ms": int(row["lack_ms"] or 0),
            "note": (row["message"] or "") if ready else "",
        }
        if row["state"] == "processing":  # the old table's own rule at start-up
            outcome["error_code"] = -7
        bind.execute(
            jobs.insert().values(
                id=str(uuid.uuid4()),
                kind="s3dir",
                listed=False,
                agent="export-to-s3dir",
                state=2,
                created_at=row["created_at"],
                request={"archive": row["archive"], "destination": row["destination"]},
                options=b"",
                timezone_minutes=0,
                progress=1.0 if ready else 0.0,
                succeeded=ready,
                error="" if ready else (row["message"] or "the export was interrupted"),
                processing="",
                stop_requested=False,
                attempts=1,
                publishes=0,
                completed_at=row["finished_at"] or now,
                last_access_at=row["finished_at"] or now,
                fingerprint=row["fingerprint"],
                outcome=outcome,
            )
        )


def _without_urls(plan: dict[str, Any]) -> dict[str, Any]:
    """A stored plan as the engine stores them now: origins, no URLs, no directory."""
    plan = {key: value for key, value in plan.items() if key != "output_dir"}
    plan["sources"] = [
        {key: value for key, value in source.items() if key not in ("live_url", "archive_url")}
        for source in plan.get("sources", [])
    ]
    return plan


_SESSION_COLUMNS = (
    "seq", "id", "agent", "kind", "options", "timezone_minutes", "state", "progress",
    "succeeded", "error", "stop_requested",
)  # fmt: skip
_FILE_COLUMNS = (
    "session_seq", "position", "file_id", "origin", "size", "mime_type", "sha256", "cloud_id",
)  # fmt: skip
_S3DIR_COLUMNS = (
    "fingerprint", "state", "error_code", "message", "archive", "destination", "video_path",
    "image_path", "s3_dir", "lack_ms",
)  # fmt: skip


def downgrade() -> None:
    raise NotImplementedError("vexport does not go back to the schema before the job engine")
