"""cloud_export's object URL per file, and export-to-s3dir's own job table.

Revision ID: 0002
Revises: 0001
Create Date: 2026-02-10
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from vexport.jobs.tables import UtcDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("result_files") as batch:
        batch.add_column(sa.Column("cloud_id", sa.String(1100), nullable=False, server_default=""))
    if "s3dir_jobs" in sa.inspect(op.get_bind()).get_table_names():
        return  # made by the release that kept its own table before migrations existed
    op.create_table(
        "s3dir_jobs",
        sa.Column("fingerprint", sa.String(64), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("error_code", sa.Integer(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("archive", sa.Text(), nullable=False),
        sa.Column("destination", sa.Text(), nullable=False),
        sa.Column("video_path", sa.Text(), nullable=False),
        sa.Column("image_path", sa.Text(), nullable=False),
        sa.Column("s3_dir", sa.Text(), nullable=False),
        sa.Column("lack_ms", sa.Integer(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("finished_at", UtcDateTime(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("s3dir_jobs")
    with op.batch_alter_table("result_files") as batch:
        batch.drop_column("cloud_id")
