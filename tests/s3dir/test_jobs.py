"""export-to-s3dir jobs with an export the test controls: busy, restarts, retention, secrets."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.api.harness import make_settings
from vexport.api.contract.s3dir import s3dir_request
from vexport.config import Settings
from vexport.jobs.control import StoreJobControl
from vexport.jobs.executors.local import LocalPool
from vexport.jobs.model import JobKind, JobState
from vexport.jobs.recovery import Recovery
from vexport.jobs.store import JobStore
from vexport.jobs.worker import JobWorker
from vexport.results.local import LocalResultStore
from vexport.s3dir.errors import ErrorCode, S3DirError
from vexport.s3dir.export import S3DirResult
from vexport.s3dir.request import S3DirRequest
from vexport.s3dir.service import AGENT, Answer, S3DirRunner, S3DirService
from vexport.timeutil import utcnow

SECRET = "very-secret-key-0123"
NODE = "test-node"


def body(duration: int = 1000) -> dict[str, Any]:
    storage = [{"storage_purpose": "ts", "storage_type": "S3", "storage_name": "archive"}]
    return {
        "SessionId": "caller",
        "LivePath": "cam/index.m3u8",
        "StartPos": 1_772_359_200_000,
        "Duration": duration,
        "storage_info": base64.b64encode(json.dumps(storage).encode()).decode(),
        "ExportS3Bucket": "dest",
        "ExportS3Key": f"AKIATEST:{SECRET}",
    }


class GatedExport:
    """Holds every job until released; counts the runs."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.started = threading.Semaphore(0)
        self.runs: list[S3DirRequest] = []
        self.fail: S3DirError | None = None

    def __call__(
        self, request: S3DirRequest, settings: Settings, workdir: Path, control: StoreJobControl
    ) -> S3DirResult:
        self.runs.append(request)
        self.started.release()
        assert self.release.wait(10)
        if self.fail is not None:
            raise self.fail
        return S3DirResult("/a.ts", "/a.jpg", "/", 0)


@dataclass
class Jobs:
    """The parts of a serving process that export-to-s3dir uses."""

    settings: Settings
    store: JobStore
    pool: LocalPool
    service: S3DirService
    clock: list[datetime]

    def answer(self, data: dict[str, Any]) -> Answer:
        return self.service.answer(s3dir_request(data, self.settings.export_to_s3dir))

    def close(self, wait: float = 5.0) -> None:
        asyncio.run(self.pool.close(wait))
        self.store.close()


def start(settings: Settings, export: Any, clock: list[datetime] | None = None) -> Jobs:
    """As a serving process starts: the store, the pool, its own jobs recovered."""
    now = clock or [utcnow()]
    store = JobStore(settings.database_url)
    results = LocalResultStore(settings.results_dir)
    runner = S3DirRunner(settings, export=export)
    worker = JobWorker(
        store,
        results,
        {JobKind.S3DIR: runner},
        node=NODE,
        config=settings.jobs,
        work_dir=settings.server.data_dir / "work",
        clock=lambda: now[0],
    )
    pool = LocalPool(
        AGENT, worker.run, worker.control, max_running=settings.export_to_s3dir.max_running
    )
    Recovery(store, results, settings.jobs, clock=lambda: now[0]).recover_own(NODE)
    service = S3DirService(settings, store, pool, runner, node=NODE, clock=lambda: now[0])
    return Jobs(settings, store, pool, service, now)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(
        tmp_path,
        export_to_s3dir={
            "session_ids": ["caller"],
            "archive_buckets": ["archive"],
            "max_running": 1,
            "time_wait": "0.5s",
            "failure_kept": "30s",
        },
        # Leases long enough that a loaded machine never loses a running job by accident.
        jobs={"heartbeat_interval": "0.1s", "heartbeat_timeout": "10s"},
    )


def wait_finished(jobs: Jobs) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if all(not job.is_active for job in jobs.service.jobs()):
            return
        threading.Event().wait(0.02)
    raise AssertionError("job still processing")


def test_busy_when_the_limit_is_reached_and_nothing_queued(settings: Settings) -> None:
    export = GatedExport()
    jobs = start(settings, export)
    try:
        assert jobs.answer(body()).code is ErrorCode.PROCESSING
        assert export.started.acquire(timeout=30)
        busy = jobs.answer(body(duration=2000))
        assert busy.code is ErrorCode.BUSY and busy.time_wait_ms == 500
        assert "busy" in busy.message
        assert jobs.answer(body()).code is ErrorCode.PROCESSING  # its own poll is not busy
        export.release.set()
        wait_finished(jobs)
        assert len(export.runs) == 1 and len(jobs.service.jobs()) == 1
        ready = jobs.answer(body())
        assert ready.code is ErrorCode.READY and ready.video_path == "/a.ts"
        assert jobs.answer(body(duration=2000)).code is ErrorCode.PROCESSING  # now it runs
    finally:
        export.release.set()
        jobs.close()


def test_a_failure_is_answered_then_retried_after_failure_kept(settings: Settings) -> None:
    export = GatedExport()
    export.fail = S3DirError(ErrorCode.UPLOAD_FAILED, "upload refused: access denied")
    export.release.set()
    jobs = start(settings, export)
    try:
        jobs.answer(body())
        wait_finished(jobs)
        failed = jobs.answer(body())
        assert failed.code is ErrorCode.UPLOAD_FAILED and "access denied" in failed.message
        assert 0 < failed.time_wait_ms <= 30_000
        assert len(export.runs) == 1
        jobs.clock[0] += timedelta(seconds=31)
        export.fail = None
        assert jobs.answer(body()).code is ErrorCode.PROCESSING
        wait_finished(jobs)
        assert len(export.runs) == 2
    finally:
        jobs.close()


def test_a_restart_fails_the_interrupted_job_and_keeps_ready_ones(settings: Settings) -> None:
    export = GatedExport()
    export.release.set()
    jobs = start(settings, export)
    jobs.answer(body(duration=3000))
    wait_finished(jobs)
    export.release.clear()
    jobs.answer(body())
    assert export.started.acquire(timeout=30)
    assert export.started.acquire(timeout=30)
    jobs.store.close()  # the process dies: its pool never finishes
    later = start(settings, GatedExport())
    try:
        answer = later.answer(body())
        assert answer.code is ErrorCode.EXPORT_FAILED
        assert "restart" in answer.message
        assert later.answer(body(duration=3000)).code is ErrorCode.READY
    finally:
        export.release.set()
        asyncio.run(jobs.pool.close(5))
        later.close()


def test_the_table_holds_no_secret(settings: Settings) -> None:
    export = GatedExport()
    export.release.set()
    jobs = start(settings, export)
    try:
        jobs.answer(body())
        wait_finished(jobs)
    finally:
        jobs.close()
    files = list(Path(settings.server.data_dir).glob("vexport.db*"))  # with the WAL
    assert files
    raw = b"".join(f.read_bytes() for f in files)
    assert SECRET.encode() not in raw and b"caller" not in raw


def test_shutdown_stops_a_running_export_which_fails_as_interrupted(settings: Settings) -> None:
    seen: list[StoreJobControl] = []
    finished = threading.Event()

    def export(
        request: S3DirRequest, settings: Settings, workdir: Path, control: StoreJobControl
    ) -> S3DirResult:
        seen.append(control)
        try:
            assert control.wait_stop(10), "the export was never told to stop"
            raise S3DirError(ErrorCode.EXPORT_FAILED, "interrupted by a restart")
        finally:
            finished.set()

    jobs = start(settings, export)
    try:
        jobs.answer(body())
        for _ in range(100):
            if seen:
                break
            threading.Event().wait(0.02)
        asyncio.run(jobs.pool.close(5))
        assert finished.wait(5)
        assert seen[0].aborted
        wait_finished(jobs)
        (job,) = jobs.service.jobs()
        assert (job.state, job.succeeded) == (JobState.COMPLETED, False)
        assert "shut down" in job.error
    finally:
        jobs.store.close()


def test_a_lost_worker_fails_its_job_once_the_lease_runs_out(settings: Settings) -> None:
    export = GatedExport()
    jobs = start(settings, export)
    try:
        jobs.answer(body())
        assert export.started.acquire(timeout=30)
        (job,) = jobs.service.jobs()
        assert job.owner == NODE and job.lease_expires_at is not None
        # Another replica's sweeper, after the lease: the job fails with the reason.
        other = Recovery(
            jobs.store,
            LocalResultStore(settings.results_dir),
            settings.jobs,
            clock=lambda: utcnow() + timedelta(seconds=30),
        )
        other.recover_expired()
        answer = jobs.answer(body())
        assert answer.code is ErrorCode.EXPORT_FAILED and "heartbeat" in answer.message
    finally:
        export.release.set()
        jobs.close()


def test_only_exporters_start_exports_and_starts_are_audited(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    from vexport.auth.principal import Principal, Role, acting_as

    export = GatedExport()
    export.release.set()
    jobs = start(settings, export)
    caplog.set_level("INFO", logger="vexport.audit")
    try:
        viewer = Principal(name="vera", roles=frozenset({Role.VIEWER}))
        with acting_as(viewer, "10.0.0.9:5000"):
            refused = jobs.answer(body())
        assert refused.code is ErrorCode.UNAUTHORIZED
        assert refused.message == "user 'vera' may not start exports"
        assert export.runs == [] and jobs.service.jobs() == []
        exporter = Principal(name="eve", roles=frozenset({Role.EXPORTER}))
        with acting_as(exporter, "10.0.0.8:5000"):
            assert jobs.answer(body()).code is ErrorCode.PROCESSING
        wait_finished(jobs)
        (line,) = [r.getMessage() for r in caplog.records if r.name == "vexport.audit"]
        event = json.loads(line)
        assert (event["user"], event["action"], event["client"]) == (
            "eve", "start", "10.0.0.8:5000",
        )  # fmt: skip
        assert event["archive"] == "s3://archive/cam/index.m3u8"
        assert SECRET not in line and "AKIATEST" not in line
    finally:
        jobs.close()
