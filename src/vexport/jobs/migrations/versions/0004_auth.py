"""Sessions know who started them; session tokens and the audit log.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02

``jobs.created_by`` names the user who started a session (NULL for sessions
started with authentication off: only admins and users who see all sessions
see them once it is on). ``auth_sessions`` holds live session tokens by their
hash, so that every replica accepts a token any of them gave out.
``audit_events`` is the append-only record of who started, downloaded,
stopped and destroyed what.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from vexport.jobs.tables import UtcDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

SEQ = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("created_by", sa.String(255), nullable=True))
    op.create_index("ix_jobs_created_by_seq", "jobs", ["created_by", "seq"])
    op.create_table(
        "auth_sessions",
        sa.Column("token_hash", sa.String(80), nullable=False),
        sa.Column("user_name", sa.String(255), nullable=False),
        sa.Column("issued_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.Column("renewable_until", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("token_hash", name="pk_auth_sessions"),
    )
    op.create_index("ix_auth_sessions_renewable_until", "auth_sessions", ["renewable_until"])
    op.create_table(
        "audit_events",
        sa.Column("seq", SEQ, primary_key=True, autoincrement=True),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("user_name", sa.String(255), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("session_id", sa.String(64), nullable=False),
        sa.Column("client", sa.String(255), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_audit_events"),
    )
    op.create_index("ix_audit_events_at", "audit_events", ["at"])
    op.create_index("ix_audit_events_session_id", "audit_events", ["session_id"])


def downgrade() -> None:
    op.drop_table("audit_events")
    op.drop_table("auth_sessions")
    op.drop_index("ix_jobs_created_by_seq", "jobs")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("created_by")
