"""The job store: the source of truth for every job (SQLAlchemy 2; SQLite or PostgreSQL).

Every method is one short transaction. State changes are compare-and-set
updates (``WHERE state IN (...)``, and ``AND owner = ...`` for a worker's
own writes), always the transaction's first statement, which both databases
make atomic (on SQLite a transaction that reads before it writes could act
on what it read after another writer changed it), so racing writers (two
workers taking one job, a worker finishing while a client destroys, the
sweeper failing a job whose worker came back) cannot both win or move a job
backwards. Nothing here is cached: every process sees the same rows.

The schema is Alembic's (``migrations/``), applied when the store opens.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Row,
    and_,
    bindparam,
    create_engine,
    delete,
    event,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.orm import sessionmaker

from vexport.errors import Unavailable
from vexport.jobs.migrate import upgrade
from vexport.jobs.model import ACTIVE, Job, JobKind, JobState, ResultFile, sources_of
from vexport.jobs.tables import FileRow, JobRow, LeaseRow
from vexport.private import private_file

__all__ = ["STOP_REASON", "DuplicateJob", "JobStore", "NewJob", "database_trouble"]

STOP_REASON = "stop_reason"

log = logging.getLogger(__name__)

# What a row read may raise when a row holds what this version cannot read (a kind or
# state of a newer version, a value written by hand): that row is skipped, never the page.
_UNREADABLE = (ValueError, TypeError, KeyError, LookupError, OverflowError)

_JOBS = JobRow.__table__
_FILES = FileRow.__table__
_FILE_COLUMNS = [
    column.label(f"f_{column.name}") for column in _FILES.c if column.name not in ("pk", "job_seq")
]
_WITH_FILES = select(*_JOBS.c, *_FILE_COLUMNS).select_from(_JOBS.outerjoin(_FILES))
_OLDEST_FIRST = (_JOBS.c.seq, _FILES.c.position)
_BY_ID = _WITH_FILES.where(_JOBS.c.id == bindparam("key")).order_by(*_OLDEST_FIRST)
_BY_SEQ = _WITH_FILES.where(_JOBS.c.seq == bindparam("key")).order_by(*_OLDEST_FIRST)
_BY_FINGERPRINT = _WITH_FILES.where(_JOBS.c.fingerprint == bindparam("key")).order_by(
    *_OLDEST_FIRST
)
_BY_KIND = _WITH_FILES.where(_JOBS.c.kind == bindparam("key")).order_by(*_OLDEST_FIRST)
_LISTED = select(_JOBS.c.seq).where(_JOBS.c.listed).order_by(_JOBS.c.seq.desc())
_FIRST_PAGE = _WITH_FILES.where(
    _JOBS.c.seq.in_(_LISTED.limit(bindparam("limit")).scalar_subquery())
).order_by(_JOBS.c.seq.desc(), _FILES.c.position)
_LISTED_BY = _LISTED.where(_JOBS.c.created_by == bindparam("created_by"))
_FIRST_PAGE_BY = _WITH_FILES.where(
    _JOBS.c.seq.in_(_LISTED_BY.limit(bindparam("limit")).scalar_subquery())
).order_by(_JOBS.c.seq.desc(), _FILES.c.position)
_NEXT_PAGE_BY = _WITH_FILES.where(
    _JOBS.c.seq.in_(
        _LISTED_BY.where(_JOBS.c.seq < bindparam("before"))
        .limit(bindparam("limit"))
        .scalar_subquery()
    )
).order_by(_JOBS.c.seq.desc(), _FILES.c.position)
_NEXT_PAGE = _WITH_FILES.where(
    _JOBS.c.seq.in_(
        _LISTED.where(_JOBS.c.seq < bindparam("before")).limit(bindparam("limit")).scalar_subquery()
    )
).order_by(_JOBS.c.seq.desc(), _FILES.c.position)


@dataclass(frozen=True)
class NewJob:
    """What creating a job takes; the store fills in seq and the bookkeeping."""

    id: str
    kind: JobKind
    agent: str
    created_at: datetime
    request: dict[str, Any]
    options: bytes = b""
    timezone_minutes: int = 0
    processing: str = ""
    # Reserved for one node from the start (export-to-s3dir), with a lease until then.
    owner: str | None = None
    lease_expires_at: datetime | None = None
    fingerprint: str | None = None
    created_by: str | None = None
    evidence_locked: bool = False


class DuplicateJob(Exception):
    """A job with the same fingerprint exists (another poll or replica won the race)."""

    def __init__(self, existing: Job) -> None:
        super().__init__(existing.id)
        self.existing = existing


@dataclass(frozen=True)
class Due:
    """A job a timer must act on, with what the decision needs."""

    id: str
    kind: JobKind
    agent: str
    state: JobState
    owner: str | None
    attempts: int
    last_frame: datetime | None


class JobStore:
    """CRUD and compare-and-set transitions over jobs; thread-safe (one pool per process)."""

    def __init__(self, database_url: str, *, migrate: bool = True, pool_size: int = 10) -> None:
        self._reserve = _Reserve(None)
        options: dict[str, Any] = {"json_serializer": json.dumps}
        if not database_url.startswith("sqlite"):
            options.update(pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)
        self.engine: Engine = create_engine(database_url, **options)
        if self.engine.dialect.name == "sqlite":
            database = self.engine.url.database
            if database and database != ":memory:" and not database.startswith("file:"):
                private_file(Path(database))  # 0600 before SQLite makes it (and -wal, -shm)
                self._reserve = _Reserve(Path(database + ".reserve"))
            event.listen(self.engine, "connect", _sqlite_pragmas)
        if migrate:
            upgrade(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def close(self) -> None:
        self.engine.dispose()

    def ping(self) -> None:
        """One round trip to the database (/readyz); raises when it does not answer."""
        try:
            with self.engine.connect() as connection:
                connection.execute(select(1))
        except Exception as exc:  # the driver's message may name the host: keep it out
            raise ConnectionError(
                f"the job database does not answer ({type(exc).__name__})"
            ) from None

    @contextmanager
    def _tx(self) -> Iterator[OrmSession]:
        with _translated(), self._sessions.begin() as orm:
            yield orm

    # -- creating and reading -------------------------------------------------

    def add(self, job: NewJob) -> Job:
        """Insert ``job``; ``DuplicateJob`` if its fingerprint is taken."""
        try:
            with self._tx() as orm:
                row = JobRow(
                    id=job.id,
                    kind=job.kind.value,
                    listed=job.kind.is_session,
                    agent=job.agent,
                    state=int(JobState.NONE),
                    created_at=job.created_at,
                    request=job.request,
                    options=job.options,
                    timezone_minutes=job.timezone_minutes,
                    processing=job.processing,
                    owner=job.owner,
                    lease_expires_at=job.lease_expires_at,
                    fingerprint=job.fingerprint,
                    created_by=job.created_by,
                    evidence_locked=job.evidence_locked,
                    last_poll_at=job.created_at,
                    # Handed to its executor right after this insert; the timers retry only
                    # after republish_after, so the first hand-over is not doubled.
                    published_at=job.created_at,
                    outcome={},
                )
                orm.add(row)
                orm.flush()
                return _job(row)
        except IntegrityError:
            existing = self.get_by_fingerprint(job.fingerprint) if job.fingerprint else None
            if existing is None:
                raise
            raise DuplicateJob(existing) from None

    def get(self, job_id: str) -> Job | None:
        jobs = self._read(_BY_ID, {"key": job_id})
        return jobs[0] if jobs else None

    def get_by_fingerprint(self, fingerprint: str) -> Job | None:
        jobs = self._read(_BY_FINGERPRINT, {"key": fingerprint})
        return jobs[0] if jobs else None

    def jobs_of_kind(self, kind: JobKind) -> list[Job]:
        return self._read(_BY_KIND, {"key": kind.value})

    def page(
        self, *, before_seq: int | None, limit: int, created_by: str | None = None
    ) -> list[Job]:
        """Listed jobs newest first, keyset-paged on ``seq`` so new ones never shift a page.

        With ``created_by``, only the sessions that user started.
        """
        if created_by is not None:
            by = {"limit": limit, "created_by": created_by}
            if before_seq is None:
                return self._read(_FIRST_PAGE_BY, by)
            return self._read(_NEXT_PAGE_BY, {**by, "before": before_seq})
        if before_seq is None:
            return self._read(_FIRST_PAGE, {"limit": limit})
        return self._read(_NEXT_PAGE, {"limit": limit, "before": before_seq})

    def _read(self, statement: Any, parameters: dict[str, Any]) -> list[Job]:
        """Jobs and their files in one prepared Core query: the read path of every poll.

        The statements are built once (building one costs more than running it),
        and read without the ORM, which would build and track objects for a
        read that changes nothing.
        """
        try:
            return self._read_rows(statement, parameters)
        except _UNREADABLE:
            pass  # some row holds what this version cannot read: read the jobs one by one
        with _translated(), self.engine.connect() as connection:
            seqs = list(
                dict.fromkeys(
                    connection.execute(
                        statement.with_only_columns(_JOBS.c.seq), parameters
                    ).scalars()
                )
            )
        jobs: list[Job] = []
        for seq in seqs:
            try:
                jobs.extend(self._read_rows(_BY_SEQ, {"key": seq}))
            except _UNREADABLE as exc:
                log.warning("skipped unreadable job row %s (%s)", seq, type(exc).__name__)
        return jobs

    def _read_rows(self, statement: Any, parameters: dict[str, Any]) -> list[Job]:
        jobs: list[Job] = []
        with _translated(), self.engine.connect() as connection:
            for row in connection.execute(statement, parameters).mappings():
                if not jobs or jobs[-1].seq != row["seq"]:
                    jobs.append(_job_of(row))
                if row["f_file_id"] is not None:
                    jobs[-1].files.append(_file(row))
        return jobs

    def unreadable(self, job_id: str) -> bool:
        """Whether a listed row with this id exists that ``get`` cannot read."""
        if self.get(job_id) is not None:
            return False
        with _translated(), self.engine.connect() as connection:
            found = connection.execute(
                select(_JOBS.c.seq).where(_JOBS.c.id == job_id, _JOBS.c.listed)
            ).first()
        return found is not None

    def discard_unreadable(self, job_id: str) -> bool:
        """Delete a listed row that cannot be read (DestroySession of it); whether one was."""
        if not self.unreadable(job_id):
            return False
        with self._tx() as orm:
            seqs = select(JobRow.seq).where(JobRow.id == job_id).scalar_subquery()
            orm.execute(delete(FileRow).where(FileRow.job_seq.in_(seqs)))
            orm.execute(delete(JobRow).where(JobRow.id == job_id, JobRow.listed))
        log.warning("deleted unreadable job row %s", job_id[:64])
        return True

    def count_by_state(self, agent: str) -> dict[JobState, int]:
        """How many of ``agent``'s jobs are queued and running."""
        with self._tx() as orm:
            rows = orm.execute(
                select(JobRow.state, func.count())
                .where(JobRow.agent == agent, JobRow.state.in_([int(s) for s in ACTIVE]))
                .group_by(JobRow.state)
            ).all()
        return {JobState(state): int(count) for state, count in rows}

    # -- a worker's transitions -----------------------------------------------

    def claim(self, job_id: str, *, owner: str, lease_until: datetime) -> Job | None:
        """S_NONE -> S_RUNNING for ``owner``; None if the job is not waiting (or is another
        node's). Of two workers handed the same id, exactly one gets the job."""
        with self._tx() as orm:
            claimed = orm.execute(
                update(JobRow)
                .where(
                    JobRow.id == job_id,
                    JobRow.state == int(JobState.NONE),
                    or_(JobRow.owner.is_(None), JobRow.owner == owner),
                )
                .values(
                    state=int(JobState.RUNNING),
                    owner=owner,
                    lease_expires_at=lease_until,
                    attempts=JobRow.attempts + 1,
                )
                .returning(JobRow.seq)
            ).first()
            if claimed is None:
                return None
            row = orm.scalar(select(JobRow).where(JobRow.seq == claimed.seq))
            return _job(row) if row else None

    def heartbeat(
        self,
        job_id: str,
        *,
        owner: str,
        lease_until: datetime,
        progress: float,
        last_frame: datetime | None,
    ) -> bool | None:
        """Renew the lease and record progress: True if a stop was asked, None if the
        job is no longer this owner's to run (lost lease, destroyed, completed)."""
        values: dict[str, Any] = {"lease_expires_at": lease_until, "progress": progress}
        if last_frame is not None:
            values["last_frame"] = last_frame
        with self._tx() as orm:
            row = orm.execute(
                update(JobRow)
                .where(
                    JobRow.id == job_id,
                    JobRow.owner == owner,
                    JobRow.state == int(JobState.RUNNING),
                )
                .values(**values)
                .returning(JobRow.stop_requested)
            ).first()
            return None if row is None else bool(row.stop_requested)

    def complete(
        self,
        job_id: str,
        *,
        succeeded: bool,
        error: str,
        files: Sequence[ResultFile],
        now: datetime,
        last_frame: datetime | None = None,
        processing: str | None = None,
        outcome: dict[str, Any] | None = None,
        owner: str | None = None,
        from_states: Sequence[JobState] = ACTIVE,
    ) -> bool:
        """Move an active job to S_COMPLETED with its files, atomically; False if it was not
        active any more (or, with ``owner``, no longer that owner's)."""
        values: dict[str, Any] = {
            "state": int(JobState.COMPLETED),
            "succeeded": succeeded,
            "error": error,
            "completed_at": now,
            "last_access_at": now,
            "lease_expires_at": None,
        }
        if succeeded:
            values["progress"] = 1.0
        if last_frame is not None:
            values["last_frame"] = last_frame
        if processing is not None:
            values["processing"] = processing
        if outcome is not None:
            values["outcome"] = outcome
        conditions = [JobRow.id == job_id, JobRow.state.in_([int(s) for s in from_states])]
        if owner is not None:
            conditions.append(JobRow.owner == owner)
        try:
            return self._complete(conditions, values, files)
        except Unavailable as exc:
            # The outcome of a run is the one write that must not be lost: on a full disk
            # the reserve makes room for it, once (docs/design/robustness.md).
            if not (exc.disk_full and self._reserve.release()):
                raise
            return self._complete(conditions, values, files)

    def _complete(
        self, conditions: list[Any], values: dict[str, Any], files: Sequence[ResultFile]
    ) -> bool:
        with self._tx() as orm:
            # The compare-and-set comes first: it takes the write lock (SQLite) or the
            # row lock (PostgreSQL) before anything else is read or written.
            done = orm.execute(
                update(JobRow).where(*conditions).values(**values).returning(JobRow.seq)
            ).first()
            if done is None:
                return False
            orm.execute(delete(FileRow).where(FileRow.job_seq == done.seq))
            for index, f in enumerate(files):
                orm.add(
                    FileRow(
                        job_seq=done.seq,
                        position=index,
                        file_id=f.file_id,
                        origin=f.origin,
                        size=f.size,
                        first_frame=f.first_frame,
                        last_frame=f.last_frame,
                        mime_type=f.mime_type,
                        sha256=f.sha256,
                        cloud_id=f.cloud_id,
                        storage_key=f.key,
                    )
                )
            return True

    def requeue(self, job_id: str, *, owner: str) -> bool:
        """Back to S_NONE for any worker (its worker was lost or shut down); False if the
        job is not ``owner``'s any more."""
        with self._tx() as orm:
            result = orm.execute(
                update(JobRow)
                .where(
                    JobRow.id == job_id,
                    JobRow.owner == owner,
                    JobRow.state.in_([int(s) for s in sources_of(JobState.NONE)]),
                )
                .values(
                    state=int(JobState.NONE),
                    owner=None,
                    lease_expires_at=None,
                    published_at=None,
                    publishes=0,
                    progress=0.0,
                )
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    # -- the service's writes -------------------------------------------------

    def request_stop(self, job_id: str, *, reason: str = "") -> bool:
        """Raise the job's stop flag (its worker reads it with the next heartbeat).

        ``reason`` (a stop nobody asked for) is kept in the outcome, where the worker
        finishing the job finds it (``STOP_REASON``).
        """
        values: dict[str, Any] = {"stop_requested": True}
        if reason:
            values["outcome"] = {STOP_REASON: reason}
        with self._tx() as orm:
            result = orm.execute(
                update(JobRow)
                .where(JobRow.id == job_id, JobRow.state.in_([int(s) for s in ACTIVE]))
                .values(**values)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def mark_removed(self, job_id: str, now: datetime) -> bool:
        with self._tx() as orm:
            done = orm.execute(
                update(JobRow)
                .where(
                    JobRow.id == job_id,
                    JobRow.state.in_([int(s) for s in sources_of(JobState.REMOVED)]),
                )
                .values(state=int(JobState.REMOVED), removed_at=now, stop_requested=True)
                .returning(JobRow.seq)
            ).first()
            if done is None:
                return False
            orm.execute(delete(FileRow).where(FileRow.job_seq == done.seq))
            return True

    def delete(self, job_ids: Iterable[str]) -> None:
        ids = list(job_ids)
        if not ids:
            return
        with self._tx() as orm:
            seqs = select(JobRow.seq).where(JobRow.id.in_(ids)).scalar_subquery()
            orm.execute(delete(FileRow).where(FileRow.job_seq.in_(seqs)))
            orm.execute(delete(JobRow).where(JobRow.id.in_(ids)))

    def record_touches(self, polls: dict[str, datetime], accesses: dict[str, datetime]) -> None:
        """The clients' signs of life since the last call, in one transaction.

        Polls of active jobs feed the watchdog (``last_poll_at``), polls and
        downloads of completed ones the retention clock (``last_access_at``).
        Times only move forward, whichever replica writes last.
        """
        if not polls and not accesses:
            return
        with self._tx() as orm:
            for column, touches in (
                (JobRow.last_poll_at, polls),
                (JobRow.last_access_at, accesses),
            ):
                if not touches:
                    continue
                statement = (
                    update(JobRow)
                    .where(JobRow.id == bindparam("job_id"))
                    .where(or_(column.is_(None), column < bindparam("at")))
                    .values({column.key: bindparam("at")})
                )
                orm.connection().execute(
                    statement, [{"job_id": key, "at": at} for key, at in touches.items()]
                )

    def mark_unpublished(self, job_id: str) -> None:
        """The hand-over failed: the timers try again on their next pass."""
        with self._tx() as orm:
            orm.execute(update(JobRow).where(JobRow.id == job_id).values(published_at=None))

    def mark_published(self, job_ids: Iterable[str], now: datetime) -> None:
        ids = list(job_ids)
        if not ids:
            return
        with self._tx() as orm:
            orm.execute(
                update(JobRow)
                .where(JobRow.id.in_(ids), JobRow.state == int(JobState.NONE))
                .values(published_at=now, publishes=JobRow.publishes + 1)
            )

    # -- what the timers look for ---------------------------------------------

    def watchdog_due(self, *, live_before: datetime, other_before: datetime) -> list[Due]:
        """Active sessions nobody polled since the cutoff of their kind, not yet stopping.

        (``last_poll_at`` starts at the creation time, so it is never empty.)
        """
        last_sign = JobRow.last_poll_at
        live = JobRow.kind == JobKind.LIVE_CLIP.value
        return self._due(
            JobRow.listed,
            JobRow.state.in_([int(s) for s in ACTIVE]),
            JobRow.stop_requested.is_(False),
            or_(and_(live, last_sign < live_before), and_(~live, last_sign < other_before)),
        )

    def retention_due(self, *, before: datetime) -> list[Due]:
        """Completed sessions not polled or downloaded since ``before`` (``last_access_at``
        starts at the completion time)."""
        return self._due(
            JobRow.listed,
            JobRow.state == int(JobState.COMPLETED),
            JobRow.last_access_at < before,
            JobRow.evidence_locked.is_(False),
        )

    def answers_due(self, *, succeeded_before: datetime, failed_before: datetime) -> list[Due]:
        """Completed unlisted jobs (export-to-s3dir) whose answer is kept no longer."""
        return self._due(
            JobRow.listed.is_(False),
            JobRow.state == int(JobState.COMPLETED),
            or_(
                and_(JobRow.succeeded, JobRow.completed_at < succeeded_before),
                and_(JobRow.succeeded.is_(False), JobRow.completed_at < failed_before),
            ),
        )

    def forget_due(self, *, before: datetime) -> list[Due]:
        return self._due(JobRow.state == int(JobState.REMOVED), JobRow.removed_at < before)

    def leases_expired(self, *, now: datetime) -> list[Due]:
        """Active jobs held by a node whose lease ran out: their worker is gone."""
        return self._due(
            JobRow.state.in_([int(s) for s in ACTIVE]),
            JobRow.owner.is_not(None),
            JobRow.lease_expires_at < now,
        )

    def queued_for_other_agents(self, agents: Sequence[str]) -> list[Due]:
        """Queued sessions of agents the configuration no longer has."""
        return self._due(
            JobRow.listed,
            JobRow.state == int(JobState.NONE),
            JobRow.owner.is_(None),
            JobRow.agent.not_in(list(agents)),
        )

    def owned_by(self, owner: str) -> list[Due]:
        """Active jobs ``owner`` holds (what a restarted node recovers)."""
        return self._due(JobRow.state.in_([int(s) for s in ACTIVE]), JobRow.owner == owner)

    def publish_due(
        self, *, agents: Sequence[str], now: datetime, base_seconds: float
    ) -> list[Due]:
        """Queued, unclaimed jobs of ``agents`` never published or not for a while.

        The wait doubles with every re-publication (up to 32 times the base), so
        a job waiting behind busy workers is not re-sent every few seconds,
        while one whose message the broker lost goes out again soon.
        """
        with self._tx() as orm:
            rows = orm.execute(
                select(
                    JobRow.id,
                    JobRow.kind,
                    JobRow.agent,
                    JobRow.state,
                    JobRow.owner,
                    JobRow.attempts,
                    JobRow.last_frame,
                    JobRow.published_at,
                    JobRow.publishes,
                )
                .where(
                    JobRow.state == int(JobState.NONE),
                    JobRow.owner.is_(None),
                    JobRow.agent.in_(list(agents)),
                )
                .order_by(JobRow.seq)
            ).all()
        due = []
        for row in rows:
            if row.published_at is not None:
                wait = base_seconds * 2 ** min(row.publishes, 5)
                if (now - row.published_at).total_seconds() < wait:
                    continue
            due.append(_due(row))
        return due

    def _due(self, *conditions: Any) -> list[Due]:
        with self._tx() as orm:
            rows = orm.execute(
                select(
                    JobRow.id,
                    JobRow.kind,
                    JobRow.agent,
                    JobRow.state,
                    JobRow.owner,
                    JobRow.attempts,
                    JobRow.last_frame,
                )
                .where(*conditions)
                .order_by(JobRow.seq)
            ).all()
        return [_due(row) for row in rows]

    # -- named leases (timers, node presence) ---------------------------------

    def acquire_lease(self, name: str, *, owner: str, until: datetime, now: datetime) -> bool:
        """Take or renew the lease ``name`` until ``until``; False while another holds it.

        Free, expired or already ours: it becomes ours. Both databases make the
        conditional update (or the insert of a new name) atomic, so at most one
        process holds a lease at any time.
        """
        with self._tx() as orm:
            taken = orm.execute(
                update(LeaseRow)
                .where(
                    LeaseRow.name == name,
                    or_(LeaseRow.owner == owner, LeaseRow.expires_at < now),
                )
                .values(owner=owner, expires_at=until)
            )
            if taken.rowcount:  # type: ignore[attr-defined]
                return True
        try:
            with self._tx() as orm:
                orm.execute(insert(LeaseRow).values(name=name, owner=owner, expires_at=until))
            return True
        except IntegrityError:
            return False

    def lease_holder(self, name: str) -> tuple[str, datetime] | None:
        with self._tx() as orm:
            row = orm.get(LeaseRow, name)
            return (row.owner, row.expires_at) if row else None

    def set_evidence_lock(self, job_id: str, locked: bool) -> bool:
        """Lock a session as evidence (or unlock it); False if there is no such session."""
        with self._tx() as orm:
            result = orm.execute(
                update(JobRow).where(JobRow.id == job_id).values(evidence_locked=locked)
            )
            return bool(getattr(result, "rowcount", 0))

    def release_lease(self, name: str, *, owner: str) -> None:
        with self._tx() as orm:
            orm.execute(delete(LeaseRow).where(LeaseRow.name == name, LeaseRow.owner == owner))


def error_is_full(exc: DBAPIError) -> bool:
    text = str(exc.orig).lower() if exc.orig is not None else ""
    return "full" in text or "no space" in text


class _Reserve:
    """A file of ``SIZE`` zero bytes next to the SQLite database, given up on a full disk.

    When the disk fills (results, another program), SQLite cannot grow its
    write-ahead log, and a finished run could not record its outcome: the
    session would stay S_RUNNING. Deleting the reserve frees room for that
    write; the reserve is made again at the next start.
    """

    SIZE = 1024 * 1024

    def __init__(self, path: Path | None) -> None:
        self.path = path
        if path is None or path.exists():
            return
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError:
            return
        try:
            os.write(descriptor, bytes(self.SIZE))
        except OSError:  # no room for it now: none this time
            os.close(descriptor)
            path.unlink(missing_ok=True)
            return
        os.close(descriptor)

    def release(self) -> bool:
        """Free the reserve's space; whether there was any to free."""
        if self.path is None or not self.path.exists():
            return False
        self.path.unlink(missing_ok=True)
        log.error("the database's disk is full: released the %d-byte reserve", self.SIZE)
        return True


def database_trouble(exc: DBAPIError) -> str:
    """What a database error means for a client, in words, without SQL or parameters."""
    text = str(exc.orig).lower() if exc.orig is not None else ""
    if error_is_full(exc):
        return "the server's database disk is full; reads still work, new exports cannot start"
    if "locked" in text or "busy" in text:
        return "the server's database is busy; try again"
    if "readonly" in text or "read-only" in text:
        return "the server's database is read-only; new exports cannot start"
    if "disk i/o" in text or "i/o error" in text:
        return "the server's database disk failed to read or write"
    return "the server's database is not available; try again"


@contextmanager
def _translated() -> Iterator[None]:
    """The database out of service (full, busy, read-only, gone) as ``Unavailable``: a
    clear message, never SQL text or a path. Other database errors are bugs and stay
    what they are (an INTERNAL answer with a reference, the log has the details)."""
    try:
        yield
    except (OperationalError, InterfaceError) as exc:
        log.warning("database error: %s", str(exc.orig)[:200] if exc.orig else type(exc).__name__)
        error = Unavailable(database_trouble(exc))
        error.disk_full = error_is_full(exc)
        raise error from exc


def _due(row: Row[Any] | Any) -> Due:
    return Due(
        id=row.id,
        kind=JobKind(row.kind),
        agent=row.agent,
        state=JobState(row.state),
        owner=row.owner,
        attempts=row.attempts,
        last_frame=row.last_frame,
    )


def _file(f: Any) -> ResultFile:
    return ResultFile(
        file_id=f["f_file_id"],
        origin=f["f_origin"],
        size=f["f_size"],
        first_frame=f["f_first_frame"],
        last_frame=f["f_last_frame"],
        mime_type=f["f_mime_type"],
        sha256=f["f_sha256"],
        cloud_id=f["f_cloud_id"] or "",
        key=f["f_storage_key"],
    )


def _job_of(row: Any) -> Job:
    return Job(
        id=row["id"],
        seq=row["seq"],
        kind=JobKind(row["kind"]),
        agent=row["agent"],
        created_at=row["created_at"],
        request=row["request"],
        options=row["options"],
        timezone_minutes=row["timezone_minutes"],
        state=JobState(row["state"]),
        progress=row["progress"],
        last_frame=row["last_frame"],
        succeeded=row["succeeded"],
        error=row["error"],
        processing=row["processing"],
        stop_requested=row["stop_requested"],
        owner=row["owner"],
        lease_expires_at=row["lease_expires_at"],
        attempts=row["attempts"],
        published_at=row["published_at"],
        publishes=row["publishes"],
        last_poll_at=row["last_poll_at"],
        completed_at=row["completed_at"],
        last_access_at=row["last_access_at"],
        removed_at=row["removed_at"],
        fingerprint=row["fingerprint"],
        outcome=dict(row["outcome"] or {}),
        created_by=row["created_by"],
        evidence_locked=bool(row["evidence_locked"]),
        files=[],
    )


def _job(row: JobRow) -> Job:
    return Job(
        id=row.id,
        seq=row.seq,
        kind=JobKind(row.kind),
        agent=row.agent,
        created_at=row.created_at,
        request=row.request,
        options=row.options,
        timezone_minutes=row.timezone_minutes,
        state=JobState(row.state),
        progress=row.progress,
        last_frame=row.last_frame,
        succeeded=row.succeeded,
        error=row.error,
        processing=row.processing,
        stop_requested=row.stop_requested,
        owner=row.owner,
        lease_expires_at=row.lease_expires_at,
        attempts=row.attempts,
        published_at=row.published_at,
        publishes=row.publishes,
        last_poll_at=row.last_poll_at,
        completed_at=row.completed_at,
        last_access_at=row.last_access_at,
        removed_at=row.removed_at,
        fingerprint=row.fingerprint,
        outcome=dict(row.outcome or {}),
        created_by=row.created_by,
        evidence_locked=bool(row.evidence_locked),
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
                key=f.storage_key,
            )
            for f in row.files
        ],
    )


def _sqlite_pragmas(connection: object, record: object) -> None:
    cursor = connection.cursor()  # type: ignore[attr-defined]
    # WAL: readers (polling clients) go on while an export writes its heartbeat.
    # synchronous=NORMAL in WAL mode: a crashed process loses no commit (a power cut
    # may lose the last ones), and a commit costs no fsync.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()
