"""The session store: the source of truth for every session (SQLAlchemy 2).

SQLite under ``data_dir`` in one process; PostgreSQL when scaled out (same
tables, set ``sessions.database_url``). Writes are short transactions; a
broker message or a worker only ever carries a session id and reads the rest
from here, so nothing a client was told lives only in memory.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    create_engine,
    event,
    func,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    mapped_column,
    relationship,
    sessionmaker,
)
from sqlalchemy.orm import (
    Session as OrmSession,
)
from sqlalchemy.types import TypeDecorator

from vexport.media.plan import ExportKind
from vexport.sessions.model import ResultFile, Session, SessionState
from vexport.timeutil import UTC


class UtcDateTime(TypeDecorator[datetime]):
    """Stores aware UTC datetimes; SQLite would otherwise hand back naive ones."""

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
    pass


class SessionRow(Base):
    __tablename__ = "sessions"

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    id: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    agent: Mapped[str] = mapped_column(String(255), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    options: Mapped[bytes] = mapped_column(LargeBinary)
    plan: Mapped[dict[str, object]] = mapped_column(JSON)
    timezone_minutes: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[int] = mapped_column(Integer, index=True)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    last_frame: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    succeeded: Mapped[bool] = mapped_column(Boolean, default=False)
    error: Mapped[str] = mapped_column(Text, default="")
    stop_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    last_poll_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    last_access_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    removed_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    files: Mapped[list[FileRow]] = relationship(
        back_populates="session",
        cascade="all, delete-orphan",
        order_by="FileRow.position",
        lazy="selectin",
    )


class FileRow(Base):
    __tablename__ = "result_files"

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_seq: Mapped[int] = mapped_column(ForeignKey("sessions.seq", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    file_id: Mapped[str] = mapped_column(String(255))
    origin: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    first_frame: Mapped[datetime] = mapped_column(UtcDateTime())
    last_frame: Mapped[datetime] = mapped_column(UtcDateTime())
    mime_type: Mapped[str] = mapped_column(String(64))
    sha256: Mapped[str] = mapped_column(String(64))
    cloud_id: Mapped[str] = mapped_column(String(1100), default="")
    session: Mapped[SessionRow] = relationship(back_populates="files")


def _to_domain(row: SessionRow) -> Session:
    return Session(
        id=row.id,
        seq=row.seq,
        created_at=row.created_at,
        agent=row.agent,
        kind=ExportKind(row.kind),
        options=row.options,
        plan=row.plan,
        timezone_minutes=row.timezone_minutes,
        state=SessionState(row.state),
        progress=row.progress,
        last_frame=row.last_frame,
        succeeded=row.succeeded,
        error=row.error,
        stop_requested=row.stop_requested,
        last_poll_at=row.last_poll_at,
        completed_at=row.completed_at,
        last_access_at=row.last_access_at,
        removed_at=row.removed_at,
        files=[
            ResultFile(
                file_id=f.file_id,
                origin=f.origin,
                size=f.size,
                first_frame=f.first_frame,
                last_frame=f.last_frame,
                mime_type=f.mime_type,
                sha256=f.sha256,
                cloud_id=f.cloud_id or "",
            )
            for f in row.files
        ],
    )


class SessionStore:
    """CRUD over sessions; every method is one short transaction."""

    def __init__(self, database_url: str) -> None:
        self.engine: Engine = create_engine(database_url, json_serializer=json.dumps)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        Base.metadata.create_all(self.engine)
        _add_missing_columns(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _tx(self) -> Iterator[OrmSession]:
        with self._sessions.begin() as orm:
            yield orm

    def add(self, session: Session) -> Session:
        with self._tx() as orm:
            row = SessionRow(
                id=session.id,
                created_at=session.created_at,
                agent=session.agent,
                kind=ExportKind(session.kind).value,
                options=session.options,
                plan=session.plan,
                timezone_minutes=session.timezone_minutes,
                state=int(session.state),
                last_poll_at=session.last_poll_at,
            )
            orm.add(row)
            orm.flush()
            return _to_domain(row)

    def get(self, session_id: str) -> Session | None:
        with self._tx() as orm:
            row = orm.scalar(select(SessionRow).where(SessionRow.id == session_id))
            return _to_domain(row) if row else None

    def page(self, *, before_seq: int | None, limit: int) -> list[Session]:
        """Newest first, keyset-paged on ``seq`` so new sessions never shift a page."""
        with self._tx() as orm:
            query = select(SessionRow).order_by(SessionRow.seq.desc()).limit(limit)
            if before_seq is not None:
                query = query.where(SessionRow.seq < before_seq)
            return [_to_domain(row) for row in orm.scalars(query)]

    def with_state(self, *states: SessionState) -> list[Session]:
        with self._tx() as orm:
            query = (
                select(SessionRow)
                .where(SessionRow.state.in_([int(s) for s in states]))
                .order_by(SessionRow.seq)
            )
            return [_to_domain(row) for row in orm.scalars(query)]

    def count_active(self, agent: str) -> int:
        with self._tx() as orm:
            return int(
                orm.scalar(
                    select(func.count())
                    .select_from(SessionRow)
                    .where(SessionRow.agent == agent)
                    .where(SessionRow.state.in_([SessionState.NONE, SessionState.RUNNING]))
                )
                or 0
            )

    def update(self, session_id: str, **values: object) -> None:
        """Set columns of one session; enum values are stored as their numbers."""
        if "state" in values:
            values["state"] = int(values["state"])  # type: ignore[call-overload]
        with self._tx() as orm:
            orm.execute(update(SessionRow).where(SessionRow.id == session_id).values(**values))

    def transition(
        self, session_id: str, from_states: tuple[SessionState, ...], **values: object
    ) -> bool:
        """Update only if the session is still in one of ``from_states``; True if it was.

        Compare-and-set keeps racing writers (a worker finishing, a client
        stopping, the watchdog) from moving a session backwards.
        """
        if "state" in values:
            values["state"] = int(values["state"])  # type: ignore[call-overload]
        with self._tx() as orm:
            result = orm.execute(
                update(SessionRow)
                .where(SessionRow.id == session_id)
                .where(SessionRow.state.in_([int(s) for s in from_states]))
                .values(**values)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def complete(
        self,
        session_id: str,
        *,
        succeeded: bool,
        error: str,
        files: list[ResultFile],
        now: datetime,
        last_frame: datetime | None,
    ) -> bool:
        """Move an active session to S_COMPLETED with its files, atomically."""
        with self._tx() as orm:
            row = orm.scalar(
                select(SessionRow).where(SessionRow.id == session_id).with_for_update()
            )
            if row is None or row.state not in (SessionState.NONE, SessionState.RUNNING):
                return False
            row.state = int(SessionState.COMPLETED)
            row.succeeded = succeeded
            row.error = error
            row.progress = 1.0 if succeeded else row.progress
            row.completed_at = now
            row.last_access_at = now
            if last_frame is not None:
                row.last_frame = last_frame
            row.files = [
                FileRow(
                    position=index,
                    file_id=f.file_id,
                    origin=f.origin,
                    size=f.size,
                    first_frame=f.first_frame,
                    last_frame=f.last_frame,
                    mime_type=f.mime_type,
                    sha256=f.sha256,
                    cloud_id=f.cloud_id,
                )
                for index, f in enumerate(files)
            ]
            return True

    def mark_removed(self, session_id: str, now: datetime) -> None:
        with self._tx() as orm:
            row = orm.scalar(select(SessionRow).where(SessionRow.id == session_id))
            if row is None:
                return
            row.state = int(SessionState.REMOVED)
            row.removed_at = now
            row.files = []

    def delete(self, session_id: str) -> None:
        with self._tx() as orm:
            row = orm.scalar(select(SessionRow).where(SessionRow.id == session_id))
            if row is not None:
                orm.delete(row)


def _sqlite_pragmas(connection: object, record: object) -> None:
    cursor = connection.cursor()  # type: ignore[attr-defined]
    # WAL lets readers (polling clients) go on while an export writes progress.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


_ADDED_COLUMNS = {"result_files": {"cloud_id": "VARCHAR(1100) NOT NULL DEFAULT ''"}}
"""Columns added after the first release; ``create_all`` does not alter existing tables."""


def _add_missing_columns(engine: Engine) -> None:
    inspector = inspect(engine)
    for table, columns in _ADDED_COLUMNS.items():
        present = {c["name"] for c in inspector.get_columns(table)}
        for name, ddl in columns.items():
            if name not in present:
                with engine.begin() as connection:
                    connection.execute(text(f"ALTER TABLE {table} ADD COLUMN {name} {ddl}"))
