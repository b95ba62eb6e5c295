"""Sessions locked as evidence: exempt from retention until an admin unlocks them.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN (SQLite has it): a batch copy of ``jobs`` would cascade-delete the
    # result files of every job when the old table is dropped.
    op.add_column(
        "jobs",
        sa.Column("evidence_locked", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    with op.batch_alter_table("jobs") as jobs:
        jobs.drop_column("evidence_locked")
