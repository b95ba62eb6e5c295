"""export-to-s3dir jobs: one per distinct request, remembered in the session database.

The caller polls by sending the same request again, so a request *is* the
job's identity: its fingerprint is an HMAC-SHA256 of the request's fields
(key pair and SessionId included, so a changed key is a new export), under a
key the server keeps in ``data_dir``. The table holds the fingerprint and
the outcome, never the request's secrets; the key pair lives only in the
memory of the thread running the job.

The fingerprint is the primary key, so two polls racing (or two replicas on
one PostgreSQL) cannot start the same export twice: the loser of the insert
answers from the winner's row. A job that was running when the process
stopped is marked failed at start-up; the same request then runs again once
``failure_kept`` has passed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Integer, String, Text, delete, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

import vexport
from vexport.config import Settings
from vexport.media.control import SimpleJobControl
from vexport.s3dir.errors import ErrorCode, S3DirError
from vexport.s3dir.export import INTERRUPTED, S3DirResult, run_s3dir_export
from vexport.s3dir.request import (
    ExportToS3DirBody,
    S3DirRequest,
    authenticate,
    body_of,
    parse_request,
)
from vexport.sessions.store import UtcDateTime
from vexport.timeutil import utcnow

log = logging.getLogger(__name__)

PROCESSING, READY, FAILED = "processing", "ready", "failed"
KEY_FILE = "s3dir-fingerprint.key"


class _Base(DeclarativeBase):
    pass


class JobRow(_Base):
    __tablename__ = "s3dir_jobs"

    fingerprint: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    error_code: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str] = mapped_column(Text, default="")
    # What an operator needs to recognise a job; no key, no SessionId.
    archive: Mapped[str] = mapped_column(Text)
    destination: Mapped[str] = mapped_column(Text)
    video_path: Mapped[str] = mapped_column(Text, default="")
    image_path: Mapped[str] = mapped_column(Text, default="")
    s3_dir: Mapped[str] = mapped_column(Text, default="")
    lack_ms: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


@dataclass(frozen=True)
class Answer:
    """The contract's answer; ``to_json`` spells it as callers expect."""

    code: ErrorCode
    message: str = ""
    time_wait_ms: int = 0
    video_path: str = ""
    image_path: str = ""
    s3_dir: str = ""
    lack_ms: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "ErrorCode": int(self.code),
            "ErrorMessage": self.message,
            "TimeWait": self.time_wait_ms,
            "VideoPath": self.video_path,
            "ImagePath": self.image_path,
            "S3Dir": self.s3_dir,
            "Version": vexport.__version__,
            "LackLength": self.lack_ms,
        }


Runner = Callable[[S3DirRequest, Settings, Path, SimpleJobControl], S3DirResult]


class S3DirJobs:
    def __init__(
        self, settings: Settings, engine: Engine, *, run: Runner = run_s3dir_export
    ) -> None:
        self.settings = settings
        self.config = settings.export_to_s3dir
        _Base.metadata.create_all(engine)
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._key = _fingerprint_key(settings.server.data_dir / KEY_FILE)
        self._run = run
        self._lock = threading.Lock()
        self._running: dict[str, SimpleJobControl] = {}
        self._pool = ThreadPoolExecutor(self.config.max_running, thread_name_prefix="s3dir")
        self._workdir = settings.server.data_dir / "s3dir"
        self._fail_interrupted()

    def close(self) -> None:
        """Stop running exports (they fail as interrupted) and drop queued ones."""
        with self._lock:
            for control in self._running.values():
                control.abort()
        self._pool.shutdown(wait=False, cancel_futures=True)

    # -- the call -------------------------------------------------------------

    def answer(self, data: Any) -> Answer:
        """Answer one POST: start the export, or say how the one it names is doing."""
        try:
            body = body_of(data)
            authenticate(body, self.config)
            request = parse_request(body, self.config)
            return self._poll_or_start(self.fingerprint(body), request)
        except S3DirError as exc:
            wait = self._time_wait_ms if exc.code is ErrorCode.BUSY else 0
            return Answer(exc.code, str(exc), time_wait_ms=wait)

    def fingerprint(self, body: ExportToS3DirBody) -> str:
        canonical = json.dumps(body.model_dump(), sort_keys=True, separators=(",", ":"))
        return hmac.new(self._key, canonical.encode(), hashlib.sha256).hexdigest()

    @property
    def _time_wait_ms(self) -> int:
        return int(self.config.time_wait.total_seconds() * 1000)

    def _poll_or_start(self, fingerprint: str, request: S3DirRequest) -> Answer:
        self.sweep()
        with self._lock:
            row = self._get(fingerprint)
            if row is not None:
                return self._answer_of(row)
            if len(self._running) >= self.config.max_running:
                raise S3DirError(
                    ErrorCode.BUSY,
                    f"busy: {len(self._running)} exports are running; "
                    "send the same request again after TimeWait",
                )
            try:
                self._insert(fingerprint, request)
            except IntegrityError:  # another poll or replica won the race
                row = self._get(fingerprint)
                assert row is not None
                return self._answer_of(row)
            control = self._running[fingerprint] = SimpleJobControl()
        log.info("export-to-s3dir %s: %s -> s3://%s/%s", fingerprint[:12], request.archive_url,
                 request.destination_bucket, request.destination_key)  # fmt: skip
        self._pool.submit(self._execute, fingerprint, request, control)
        return Answer(ErrorCode.PROCESSING, "export started", time_wait_ms=self._time_wait_ms)

    def _answer_of(self, row: JobRow) -> Answer:
        if row.state == PROCESSING:
            return Answer(ErrorCode.PROCESSING, "processing", time_wait_ms=self._time_wait_ms)
        if row.state == READY:
            return Answer(
                ErrorCode.READY,
                f"ready; {row.message}" if row.message else "ready",
                video_path=row.video_path,
                image_path=row.image_path,
                s3_dir=row.s3_dir,
                lack_ms=row.lack_ms,
            )
        retry = (row.finished_at or utcnow()) + self.config.failure_kept - utcnow()
        return Answer(
            ErrorCode(row.error_code),
            row.message,
            time_wait_ms=max(0, int(retry.total_seconds() * 1000)),
        )

    # -- running --------------------------------------------------------------

    def _execute(self, fingerprint: str, request: S3DirRequest, control: SimpleJobControl) -> None:
        self._workdir.mkdir(parents=True, exist_ok=True)
        workdir = Path(tempfile.mkdtemp(prefix=fingerprint[:12] + "-", dir=self._workdir))
        try:
            result = self._run(request, self.settings, workdir, control)
        except S3DirError as exc:
            log.warning("export-to-s3dir %s failed: %s", fingerprint[:12], exc)
            self._finish(fingerprint, state=FAILED, error_code=int(exc.code), message=str(exc))
        except Exception:
            log.exception("export-to-s3dir %s failed unexpectedly", fingerprint[:12])
            self._finish(
                fingerprint,
                state=FAILED,
                error_code=int(ErrorCode.INTERNAL),
                message="internal error; the server log has the details",
            )
        else:
            self._finish(
                fingerprint,
                state=READY,
                error_code=int(ErrorCode.READY),
                message=result.note,
                video_path=result.video_path,
                image_path=result.image_path,
                s3_dir=result.s3_dir,
                lack_ms=result.lack_ms,
            )
        finally:
            with self._lock:
                self._running.pop(fingerprint, None)

    # -- the table ------------------------------------------------------------

    def _get(self, fingerprint: str) -> JobRow | None:
        with self._sessions.begin() as orm:
            return orm.get(JobRow, fingerprint)

    def _insert(self, fingerprint: str, request: S3DirRequest) -> None:
        with self._sessions.begin() as orm:
            orm.add(
                JobRow(
                    fingerprint=fingerprint,
                    state=PROCESSING,
                    error_code=int(ErrorCode.PROCESSING),
                    message="",
                    archive=request.archive_url,
                    destination=f"s3://{request.destination_bucket}/{request.destination_key}",
                    created_at=utcnow(),
                )
            )

    def _finish(self, fingerprint: str, **values: Any) -> None:
        with self._sessions.begin() as orm:
            orm.execute(
                update(JobRow)
                .where(JobRow.fingerprint == fingerprint)
                .values(finished_at=utcnow(), **values)
            )

    def _fail_interrupted(self) -> None:
        with self._sessions.begin() as orm:
            orm.execute(
                update(JobRow)
                .where(JobRow.state == PROCESSING)
                .values(
                    state=FAILED,
                    error_code=int(ErrorCode.EXPORT_FAILED),
                    message=INTERRUPTED,
                    finished_at=utcnow(),
                )
            )

    def sweep(self, now: datetime | None = None) -> None:
        """Forget finished jobs past retention and failed ones past ``failure_kept``."""
        now = now or utcnow()
        with self._sessions.begin() as orm:
            orm.execute(
                delete(JobRow).where(
                    JobRow.state == READY, JobRow.finished_at < now - self.config.retention
                )
            )
            orm.execute(
                delete(JobRow).where(
                    JobRow.state == FAILED, JobRow.finished_at < now - self.config.failure_kept
                )
            )

    def jobs(self) -> list[JobRow]:
        """Every remembered job (for operators and tests)."""
        with self._sessions.begin() as orm:
            return list(orm.scalars(select(JobRow).order_by(JobRow.created_at)))


def _fingerprint_key(path: Path) -> bytes:
    """The HMAC key, made once per data directory so fingerprints survive restarts."""
    try:
        return bytes.fromhex(path.read_text().strip())
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first
        return bytes.fromhex(path.read_text().strip())
    with os.fdopen(descriptor, "w") as handle:
        handle.write(key.hex())
    return key
