"""export-to-s3dir as a kind of job: one job per distinct request, its answer read off it.

The caller polls by sending the same request again, so a request *is* the
job's identity: its fingerprint is an HMAC-SHA256 of the request's fields
(the key pair and SessionId included, so a changed key is a new export),
under a key the operator configures (``[export_to_s3dir] fingerprint_key``;
shared by replicas) or one made once in ``data_dir``. The fingerprint is a
unique column of the job table, so two polls racing, or two replicas on one
PostgreSQL, cannot start the same export twice: the loser answers from the
winner's job.

The job row keeps the fingerprint, the request without its secrets and the
outcome. The key pair lives only in the memory of the process that took the
request, so the job runs there, on a local pool of ``max_running`` threads
(no queue: at the limit the answer is busy); any replica answers polls from
the store. A job whose process dies fails with the reason once its lease
runs out (or at once when that process restarts), and the same request runs
again after ``failure_kept``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
import threading
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from vexport import metrics
from vexport.auth.audit import AuditEvent, AuditLog
from vexport.auth.principal import Action, client_address, current
from vexport.config import Settings
from vexport.jobs.control import StoreJobControl
from vexport.jobs.executors.local import LocalPool
from vexport.jobs.model import Job, JobKind, JobState
from vexport.jobs.store import DuplicateJob, JobStore, NewJob
from vexport.jobs.worker import RunResult
from vexport.s3dir.errors import ErrorCode, S3DirError
from vexport.s3dir.export import INTERRUPTED, S3DirResult, run_s3dir_export
from vexport.s3dir.request import S3DirRequest
from vexport.timeutil import utcnow

__all__ = ["AGENT", "Answer", "S3DirRunner", "S3DirService", "fingerprint_key"]

log = logging.getLogger(__name__)

AGENT = "export-to-s3dir"
"""The agent name of export-to-s3dir jobs (they run where they were asked for)."""
KEY_FILE = "s3dir-fingerprint.key"

Export = Callable[[S3DirRequest, Settings, Path, StoreJobControl], S3DirResult]


@dataclass(frozen=True)
class Answer:
    """The contract's answer (the HTTP adapter spells it as callers expect)."""

    code: ErrorCode
    message: str = ""
    time_wait_ms: int = 0
    video_path: str = ""
    image_path: str = ""
    s3_dir: str = ""
    lack_ms: int = 0


class S3DirRunner:
    """The kind runner: the request from memory, the export, the answer's data."""

    def __init__(self, settings: Settings, export: Export = run_s3dir_export) -> None:
        self.settings = settings
        self._export = export
        self._lock = threading.Lock()
        self._requests: dict[str, S3DirRequest] = {}

    def hold(self, job_id: str, request: S3DirRequest) -> None:
        with self._lock:
            self._requests[job_id] = request

    def forget(self, job_id: str) -> None:
        with self._lock:
            self._requests.pop(job_id, None)

    def run(self, job: Job, control: StoreJobControl, workdir: Path) -> RunResult:
        with self._lock:
            request = self._requests.pop(job.id, None)
        if request is None:  # taken before a restart: the key pair is gone with that process
            return RunResult(
                error=INTERRUPTED, outcome={"error_code": int(ErrorCode.EXPORT_FAILED)}
            )
        try:
            result = self._export(request, self.settings, workdir, control)
        except S3DirError as exc:
            log.warning("export-to-s3dir %s failed: %s", job.id, exc)
            return RunResult(error=str(exc), outcome={"error_code": int(exc.code)})
        except Exception:
            log.exception("export-to-s3dir %s failed unexpectedly", job.id)
            return RunResult(
                error="internal error; the server log has the details",
                outcome={"error_code": int(ErrorCode.INTERNAL)},
            )
        return RunResult(outcome={"error_code": int(ErrorCode.READY), **asdict(result)})


class S3DirService:
    def __init__(
        self,
        settings: Settings,
        store: JobStore,
        pool: LocalPool,
        runner: S3DirRunner,
        *,
        node: str,
        clock: Callable[[], datetime] = utcnow,
        audit: AuditLog | None = None,
    ) -> None:
        self.settings = settings
        self.config = settings.export_to_s3dir
        self.audit = audit or AuditLog()
        self.store = store
        self.pool = pool
        self.runner = runner
        self.node = node
        self.clock = clock
        self._key = fingerprint_key(settings)
        self._lock = threading.Lock()

    def answer(self, request: S3DirRequest) -> Answer:
        """Answer one POST: start the export, or say how the one it names is doing."""
        principal = current()
        if principal is not None and not principal.may(Action.START):
            return Answer(ErrorCode.UNAUTHORIZED, f"user {principal.name!r} may not start exports")
        try:
            return self._poll_or_start(self.fingerprint(request), request)
        except S3DirError as exc:
            wait = self._time_wait_ms if exc.code is ErrorCode.BUSY else 0
            return Answer(exc.code, str(exc), time_wait_ms=wait)

    def fingerprint(self, request: S3DirRequest) -> str:
        fields = asdict(request)
        fields["credentials"] = [
            request.credentials.access_key,
            request.credentials.secret_key,
        ]
        canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str)
        return hmac.new(self._key, canonical.encode(), hashlib.sha256).hexdigest()

    @property
    def _time_wait_ms(self) -> int:
        return int(self.config.time_wait.total_seconds() * 1000)

    def _poll_or_start(self, fingerprint: str, request: S3DirRequest) -> Answer:
        with self._lock:
            job = self.store.get_by_fingerprint(fingerprint)
            if job is not None and not self._expired(job):
                return self.answer_of(job)
            if job is not None:  # a failure past failure_kept (or an old success): run again
                self.store.delete([job.id])
            running = self.pool.running_count() + self.pool.queued_count()
            if running >= self.config.max_running:
                raise S3DirError(
                    ErrorCode.BUSY,
                    f"busy: {running} exports are running; "
                    "send the same request again after TimeWait",
                )
            now = self.clock()
            try:
                job = self.store.add(
                    NewJob(
                        id=str(uuid.uuid4()),
                        kind=JobKind.S3DIR,
                        agent=AGENT,
                        created_at=now,
                        request=request.public_json(),
                        owner=self.node,
                        lease_expires_at=now + self.settings.jobs.heartbeat_timeout,
                        fingerprint=fingerprint,
                    )
                )
            except DuplicateJob as duplicate:  # another poll or replica won the race
                return self.answer_of(duplicate.existing)
            metrics.export_started(job.kind.value)
            self.runner.hold(job.id, request)
            try:
                self.pool.submit(job.id)
            except RuntimeError:  # shutting down
                self.runner.forget(job.id)
                raise S3DirError(ErrorCode.BUSY, "the service is shutting down") from None
        self._audit_start(job, request)
        log.info("export-to-s3dir %s: %s -> s3://%s/%s", job.id, request.archive_url,
                 request.destination_bucket, request.destination_key)  # fmt: skip
        return Answer(ErrorCode.PROCESSING, "export started", time_wait_ms=self._time_wait_ms)

    def _audit_start(self, job: Job, request: S3DirRequest) -> None:
        principal = current()
        self.audit.record(
            AuditEvent(
                at=job.created_at,
                user=principal.name if principal is not None else "-",
                action=Action.START.value,
                session_id=job.id,
                client=client_address(),
                details={
                    "kind": "s3dir",
                    "archive": request.archive_url,
                    "begin": request.start.isoformat(),
                    "end": request.end.isoformat(),
                    "format": request.container.value,
                    "destination": f"s3://{request.destination_bucket}/{request.destination_key}",
                },
            )
        )

    def _expired(self, job: Job) -> bool:
        if job.state is not JobState.COMPLETED or job.completed_at is None:
            return False
        kept = self.config.retention if job.succeeded else self.config.failure_kept
        return self.clock() - job.completed_at > kept

    def answer_of(self, job: Job) -> Answer:
        """The answer a job gives, the same on every replica."""
        outcome: dict[str, Any] = job.outcome
        if job.is_active:
            return Answer(ErrorCode.PROCESSING, "processing", time_wait_ms=self._time_wait_ms)
        if job.succeeded:
            note = str(outcome.get("note") or "")
            return Answer(
                ErrorCode.READY,
                f"ready; {note}" if note else "ready",
                video_path=str(outcome.get("video_path", "")),
                image_path=str(outcome.get("image_path", "")),
                s3_dir=str(outcome.get("s3_dir", "")),
                lack_ms=int(outcome.get("lack_ms", 0)),
            )
        retry = (job.completed_at or self.clock()) + self.config.failure_kept - self.clock()
        code = outcome.get("error_code", int(ErrorCode.EXPORT_FAILED))
        return Answer(
            ErrorCode(code) if code < 0 else ErrorCode.EXPORT_FAILED,
            job.error,
            time_wait_ms=max(0, int(retry.total_seconds() * 1000)),
        )

    def jobs(self) -> list[Job]:
        """Every remembered export-to-s3dir job (for operators and tests), oldest first."""
        return self.store.jobs_of_kind(JobKind.S3DIR)


def fingerprint_key(settings: Settings) -> bytes:
    configured = settings.export_to_s3dir.fingerprint_key
    if configured is not None:
        return bytes.fromhex(configured.get_secret_value())
    return _key_file(settings.server.data_dir / KEY_FILE)


def _key_file(path: Path) -> bytes:
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
