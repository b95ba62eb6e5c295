"""The job table's rules with a runner the test controls: busy, restarts, retention."""

from __future__ import annotations

import base64
import json
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.api.harness import make_settings
from vexport.config import Settings
from vexport.media.control import SimpleJobControl
from vexport.s3dir.errors import ErrorCode, S3DirError
from vexport.s3dir.export import S3DirResult
from vexport.s3dir.jobs import S3DirJobs
from vexport.s3dir.request import S3DirRequest
from vexport.sessions.store import SessionStore
from vexport.timeutil import utcnow

SECRET = "very-secret-key-0123"


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


class GatedRunner:
    """Holds every job until released; counts the runs."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.started = threading.Semaphore(0)
        self.runs: list[S3DirRequest] = []
        self.fail: S3DirError | None = None

    def __call__(
        self, request: S3DirRequest, settings: Settings, workdir: Path, control: SimpleJobControl
    ) -> S3DirResult:
        self.runs.append(request)
        self.started.release()
        assert self.release.wait(10)
        if self.fail is not None:
            raise self.fail
        return S3DirResult("/a.ts", "/a.jpg", "/", 0)


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
    )


def make_jobs(settings: Settings, runner: GatedRunner) -> tuple[S3DirJobs, SessionStore]:
    store = SessionStore(settings.database_url)
    return S3DirJobs(settings, store.engine, run=runner), store


def wait_finished(jobs: S3DirJobs) -> None:
    for _ in range(200):
        if all(job.state != "processing" for job in jobs.jobs()):
            return
        threading.Event().wait(0.02)
    raise AssertionError("job still processing")


def test_busy_when_the_limit_is_reached_and_nothing_queued(settings: Settings) -> None:
    runner = GatedRunner()
    jobs, store = make_jobs(settings, runner)
    try:
        assert jobs.answer(body()).code is ErrorCode.PROCESSING
        assert runner.started.acquire(timeout=5)
        busy = jobs.answer(body(duration=2000))
        assert busy.code is ErrorCode.BUSY and busy.time_wait_ms == 500
        assert "busy" in busy.message
        assert jobs.answer(body()).code is ErrorCode.PROCESSING  # its own poll is not busy
        runner.release.set()
        wait_finished(jobs)
        assert len(runner.runs) == 1 and len(jobs.jobs()) == 1
        assert jobs.answer(body()).code is ErrorCode.READY
        assert jobs.answer(body(duration=2000)).code is ErrorCode.PROCESSING  # now it runs
    finally:
        runner.release.set()
        jobs.close()
        store.close()


def test_a_failure_is_answered_then_retried_after_failure_kept(settings: Settings) -> None:
    runner = GatedRunner()
    runner.fail = S3DirError(ErrorCode.UPLOAD_FAILED, "upload refused: access denied")
    runner.release.set()
    jobs, store = make_jobs(settings, runner)
    try:
        jobs.answer(body())
        wait_finished(jobs)
        failed = jobs.answer(body())
        assert failed.code is ErrorCode.UPLOAD_FAILED and "access denied" in failed.message
        assert 0 < failed.time_wait_ms <= 30_000
        assert len(runner.runs) == 1
        jobs.sweep(now=utcnow() + timedelta(seconds=31))
        runner.fail = None
        assert jobs.answer(body()).code is ErrorCode.PROCESSING
        wait_finished(jobs)
        assert len(runner.runs) == 2
    finally:
        jobs.close()
        store.close()


def test_a_restart_fails_the_interrupted_job_and_keeps_ready_ones(settings: Settings) -> None:
    runner = GatedRunner()
    jobs, store = make_jobs(settings, runner)
    jobs.answer(body())
    assert runner.started.acquire(timeout=5)
    jobs.close()
    store.close()
    later, store = make_jobs(settings, GatedRunner())
    try:
        answer = later.answer(body())
        assert answer.code is ErrorCode.EXPORT_FAILED
        assert "restart" in answer.message
    finally:
        runner.release.set()
        later.close()
        store.close()


def test_the_table_holds_no_secret(settings: Settings) -> None:
    runner = GatedRunner()
    runner.release.set()
    jobs, store = make_jobs(settings, runner)
    try:
        jobs.answer(body())
        wait_finished(jobs)
    finally:
        jobs.close()
        store.close()
    files = list(Path(settings.server.data_dir).glob("vexport.db*"))  # with the WAL
    assert files
    raw = b"".join(f.read_bytes() for f in files)
    assert SECRET.encode() not in raw and b"caller" not in raw


def test_shutdown_stops_a_running_export_which_fails_as_interrupted(settings: Settings) -> None:
    seen: list[SimpleJobControl] = []
    finished = threading.Event()

    def runner(
        request: S3DirRequest, settings: Settings, workdir: Path, control: SimpleJobControl
    ) -> S3DirResult:
        seen.append(control)
        try:
            assert control.wait_stop(10), "the export was never told to stop"
            raise S3DirError(ErrorCode.EXPORT_FAILED, "interrupted by a restart")
        finally:
            finished.set()

    store = SessionStore(settings.database_url)
    jobs = S3DirJobs(settings, store.engine, run=runner)
    try:
        jobs.answer(body())
        for _ in range(100):
            if seen:
                break
            threading.Event().wait(0.02)
        jobs.close()
        assert finished.wait(5)
        assert seen[0].aborted
        wait_finished(jobs)
        assert [job.state for job in jobs.jobs()] == ["failed"]
    finally:
        store.close()
