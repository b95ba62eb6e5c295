"""The job tables (SQLAlchemy 2): one schema for SQLite and PostgreSQL.

The migrations in ``migrations/versions`` create exactly these tables; a test
compares the two on both databases, so the models and the migrations cannot
drift apart.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from vexport.timeutil import UTC

__all__ = [
    "AuditRow",
    "AuthSessionRow",
    "Base",
    "FileRow",
    "JobRow",
    "LeaseRow",
    "UtcDateTime",
]

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes both ways; SQLite would otherwise hand back naive ones."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


SEQ = BigInteger().with_variant(Integer, "sqlite")
"""An autoincrementing key: SQLite wants INTEGER for its rowid alias."""


class JobRow(Base):
    __tablename__ = "jobs"

    seq: Mapped[int] = mapped_column(SEQ, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    # Sessions of the export contract are listed; export-to-s3dir jobs are not.
    listed: Mapped[bool] = mapped_column(Boolean)
    agent: Mapped[str] = mapped_column(String(255))
    state: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    request: Mapped[dict[str, Any]] = mapped_column(JSON)
    options: Mapped[bytes] = mapped_column(LargeBinary)
    timezone_minutes: Mapped[int] = mapped_column(Integer, default=0)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    last_frame: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    succeeded: Mapped[bool] = mapped_column(Boolean, default=False)
    error: Mapped[str] = mapped_column(Text, default="")
    processing: Mapped[str] = mapped_column(Text, default="")
    stop_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    owner: Mapped[str | None] = mapped_column(String(255), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    published_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    publishes: Mapped[int] = mapped_column(Integer, default=0)
    last_poll_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    last_access_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    removed_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    fingerprint: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    outcome: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The user who started the session (None: started with authentication off).
    created_by: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # Evidence: exempt from retention until an admin unlocks it (docs/design/evidence.md).
    evidence_locked: Mapped[bool] = mapped_column(Boolean, default=False)
    files: Mapped[list[FileRow]] = relationship(
        back_populates="job",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="FileRow.position",
        lazy="selectin",
    )

    # The timers' questions, each answered from an index instead of a scan of every job.
    __table_args__ = (
        Index(None, "state", "agent"),
        Index(None, "owner"),
        Index(None, "state", "last_poll_at"),
        Index(None, "state", "last_access_at"),
        Index(None, "state", "completed_at"),
        Index(None, "created_by", "seq"),
    )


class FileRow(Base):
    __tablename__ = "job_files"

    pk: Mapped[int] = mapped_column(SEQ, primary_key=True, autoincrement=True)
    job_seq: Mapped[int] = mapped_column(ForeignKey("jobs.seq", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    file_id: Mapped[str] = mapped_column(String(255))
    origin: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    first_frame: Mapped[datetime] = mapped_column(UtcDateTime())
    last_frame: Mapped[datetime] = mapped_column(UtcDateTime())
    mime_type: Mapped[str] = mapped_column(String(64))
    sha256: Mapped[str] = mapped_column(String(64))
    cloud_id: Mapped[str] = mapped_column(String(1100), default="")
    storage_key: Mapped[str] = mapped_column(String(1100))
    job: Mapped[JobRow] = relationship(back_populates="files")


class LeaseRow(Base):
    """A named lease: the timers' (one replica sweeps at a time) and each node's presence."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    owner: Mapped[str] = mapped_column(String(255))
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())


class AuthSessionRow(Base):
    """A live session token (AuthenticateEx2), by its hash: every replica knows it."""

    __tablename__ = "auth_sessions"

    token_hash: Mapped[str] = mapped_column(String(80), primary_key=True)
    user_name: Mapped[str] = mapped_column(String(255))
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    renewable_until: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)


class AuditRow(Base):
    """One audited act (start, download, stop, destroy): only ever inserted."""

    __tablename__ = "audit_events"

    seq: Mapped[int] = mapped_column(SEQ, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    user_name: Mapped[str] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(32))
    session_id: Mapped[str] = mapped_column(String(64), index=True)
    client: Mapped[str] = mapped_column(String(255))
    outcome: Mapped[str] = mapped_column(String(32))
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
