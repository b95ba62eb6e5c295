"""Running one job to its end: claim, run its kind, store its files, complete it.

This is what every executor calls with a job id, in a thread of the server
(local pool) or of a Celery worker: a broker message carries nothing but the
id, and everything else is read from the store. Whatever happens, a claimed
job ends in one of three ways, and never runs twice at once:

- completed (S_COMPLETED, ``succeeded`` true or false with the reason);
- queued again for any worker (a shutdown or a lost worker, for kinds that
  can simply run again, up to ``[jobs] max_attempts`` runs);
- left alone, when the heartbeat found it is no longer this worker's.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from vexport import metrics
from vexport.config import JobsConfig
from vexport.errors import Unavailable
from vexport.jobs.control import StoreJobControl
from vexport.jobs.model import Job, JobKind, JobState
from vexport.jobs.store import STOP_REASON, JobStore
from vexport.media.formats import DISK_FULL
from vexport.private import private_dir
from vexport.results.base import ResultFile, ResultStore
from vexport.timeutil import utcnow

__all__ = ["FinishedFile", "JobWorker", "KindRunner", "RunResult"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FinishedFile:
    """A file a run produced in its work directory, described and hashed."""

    file: ResultFile
    path: Path


@dataclass
class RunResult:
    """What one run of a job gave: files to keep, or the reason there are none."""

    files: list[FinishedFile] = field(default_factory=list)
    error: str = ""
    # What was done to the video, as the files report it; empty: the plan's intent stands.
    processing: str = ""
    # The kind's own answer data (export-to-s3dir: paths, LackLength, ErrorCode).
    outcome: dict[str, Any] = field(default_factory=dict)


class KindRunner(Protocol):
    def run(self, job: Job, control: StoreJobControl, workdir: Path) -> RunResult:
        """Run ``job`` in ``workdir`` (this run's own, removed afterwards); raise only on a bug.

        A stop request (``control.stop_requested()``) means finish up and keep
        what was made; an abort (``control.aborted``) means what was made will
        not count.
        """
        ...


class JobWorker:
    """Runs jobs for one node (this process's name as their owner)."""

    def __init__(
        self,
        store: JobStore,
        results: ResultStore,
        runners: Mapping[JobKind, KindRunner],
        *,
        node: str,
        config: JobsConfig,
        work_dir: Path,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store = store
        self.results = results
        self.runners = dict(runners)
        self.node = node
        self.config = config
        self.work_dir = work_dir
        self.clock = clock

    def control(self, job_id: str) -> StoreJobControl:
        return StoreJobControl(
            self.store,
            job_id,
            self.node,
            interval=self.config.heartbeat_interval,
            timeout=self.config.heartbeat_timeout,
            clock=self.clock,
        )

    def run(self, job_id: str, control: StoreJobControl | None = None) -> None:
        """Run ``job_id`` if it is waiting; ``control`` lets the caller stop or abort it."""
        try:
            job = self.store.claim(
                job_id, owner=self.node, lease_until=self.clock() + self.config.heartbeat_timeout
            )
        except Unavailable as exc:
            if not exc.disk_full:
                raise
            # Not even the claim fits on the disk: the job fails now (the store's reserve
            # makes room for that row) instead of waiting in the queue for space.
            log.error("job %s cannot start: %s", job_id, exc)
            self.store.complete(
                job_id, succeeded=False, error=DISK_FULL, files=(), now=self.clock()
            )
            return
        if job is None:
            return  # stopped or destroyed while queued, or another worker has it
        control = control or self.control(job_id)
        runner = self.runners.get(job.kind)
        workdir = self.work_dir / f"{job.id}-{job.attempts}"
        started = time.monotonic()
        log.info("job %s (%s) attempt %d on %s", job.id, job.kind.value, job.attempts, self.node)
        with control:
            try:
                if runner is None:
                    result = RunResult(error=f"this worker does not run {job.kind.value} jobs")
                else:
                    private_dir(workdir)
                    result = runner.run(job, control, workdir)
            except Exception as exc:  # a bug, not a media problem: say so, keep the worker up
                log.exception("job %s failed unexpectedly", job.id)
                result = RunResult(error=f"internal error: {type(exc).__name__}")
            if result.error and not result.files:
                # A failed run's partial files go before the outcome is written: a run
                # that filled the disk must leave room for the row that says so.
                shutil.rmtree(workdir, ignore_errors=True)
            outcome = "failed"
            try:
                outcome = self._finish(job, control, result)
            finally:
                shutil.rmtree(workdir, ignore_errors=True)
                metrics.export_finished(job.kind.value, outcome, time.monotonic() - started)
        log.info("job %s attempt %d ended after %.1fs", job.id, job.attempts,
                 time.monotonic() - started)  # fmt: skip

    def _finish(self, job: Job, control: StoreJobControl, result: RunResult) -> str:
        """Store the run's outcome; its name for the metrics."""
        if control.lost:
            log.warning("job %s: %s; dropping this run's files", job.id, control.abort_reason)
            return "lost"
        if control.aborted:
            return self._interrupted(job, control.abort_reason, control.last_frame)
        stored: list[ResultFile] = []
        error = result.error
        try:
            for finished in result.files:
                stored.append(self.results.put(job.id, job.attempts, finished.file, finished.path))
        except Exception as exc:  # S3Error names bucket and key, never credentials
            log.exception("job %s: storing the result files failed", job.id)
            error = f"storing the result files failed: {exc}"
            self.results.delete(job.id, job.attempts)
            stored = []
        if not stored and not error and job.kind.is_session:
            error = (
                "stopped before any frame was exported"
                if control.stop_requested()
                else "the export produced no file"
            )
        outcome = result.outcome
        if job.kind.is_session and control.stop_requested():
            current = self.store.get(job.id)
            reason = str(current.outcome.get(STOP_REASON, "")) if current else ""
            if reason:  # the watchdog's stop: the files are kept, the session says why
                error = error or reason
                outcome = {**outcome, STOP_REASON: reason}
        last_frame = max((f.last_frame for f in stored), default=control.last_frame)
        completed = self.store.complete(
            job.id,
            owner=self.node,
            from_states=(JobState.RUNNING,),
            succeeded=not error,
            error=error,
            files=stored,
            now=self.clock(),
            last_frame=last_frame,
            processing=result.processing or None,
            outcome=outcome,
        )
        if not completed:
            # Destroyed while running, or recovered by the sweeper meanwhile.
            self.results.delete(job.id, job.attempts)
        elif error and not stored:
            self.results.delete(job.id, job.attempts)
        if error:
            log.info("job %s failed: %s", job.id, error)
        return "failed" if error else "succeeded"

    def _interrupted(self, job: Job, reason: str, last_frame: datetime | None) -> str:
        """A shutdown cut the run short: another run if the kind allows, else the reason."""
        again = job.kind.rerunnable and job.attempts < self.config.max_attempts
        if again and self.store.requeue(job.id, owner=self.node):
            log.info("job %s queued again: %s", job.id, reason)
            return "requeued"
        self.store.complete(
            job.id,
            owner=self.node,
            succeeded=False,
            error=reason,
            files=[],
            now=self.clock(),
            last_frame=last_frame,
        )
        return "failed"
