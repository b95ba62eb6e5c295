"""The worker and its control: stop through the store, abort, lost leases, files by attempt."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.api.harness import make_settings
from vexport.config import Settings
from vexport.jobs.control import StoreJobControl
from vexport.jobs.model import Job, JobKind, JobState
from vexport.jobs.store import JobStore, NewJob
from vexport.jobs.worker import FinishedFile, JobWorker, RunResult
from vexport.results.base import ResultFile, sha256_of
from vexport.results.local import LocalResultStore

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)


class Runner:
    """Writes one file, then waits for a stop (or returns at once)."""

    def __init__(self, wait: bool = False) -> None:
        self.wait = wait
        self.started = threading.Event()
        self.saw_stop = False
        self.release = threading.Event()

    def run(self, job: Job, control: StoreJobControl, workdir: Path) -> RunResult:
        path = workdir / "clip.mp4"
        path.write_bytes(b"frames" * 100)
        control.report_progress(0.5, NOW)
        self.started.set()
        if self.wait:
            self.saw_stop = control.wait_stop(10)
            self.release.wait(10)
        file = ResultFile("clip.mp4", "cam", 600, NOW, NOW, "video/mp4", sha256_of(path))
        return RunResult(files=[FinishedFile(file, path)], processing="smart cut: 3 of 50")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, jobs={"heartbeat_interval": "0.05s", "heartbeat_timeout": "1s"})


@pytest.fixture
def sqlite_store(settings: Settings) -> JobStore:
    return JobStore(settings.database_url)


def worker_for(settings: Settings, store: JobStore, runner: Runner, node: str = "w") -> JobWorker:
    return JobWorker(
        store,
        LocalResultStore(settings.results_dir),
        {kind: runner for kind in JobKind},
        node=node,
        config=settings.jobs,
        work_dir=settings.server.data_dir / "work",
    )


def add(store: JobStore, kind: JobKind = JobKind.ARCHIVE_CLIP) -> str:
    store.add(NewJob(id="j", kind=kind, agent="a", created_at=NOW, request={"plan": {}}))
    return "j"


def in_thread(worker: JobWorker, job_id: str, control: StoreJobControl) -> threading.Thread:
    thread = threading.Thread(target=worker.run, args=(job_id, control))
    thread.start()
    return thread


def test_a_run_keeps_its_files_under_its_attempt(
    settings: Settings, sqlite_store: JobStore
) -> None:
    worker = worker_for(settings, sqlite_store, Runner())
    worker.run(add(sqlite_store))
    job = sqlite_store.get("j")
    assert job is not None and job.state is JobState.COMPLETED and job.succeeded, job
    assert job.processing == "smart cut: 3 of 50"
    (file,) = job.files
    assert file.key == "j/1/clip.mp4"
    assert (settings.results_dir / "j" / "1" / "clip.mp4").stat().st_size == 600
    assert not list((settings.server.data_dir / "work").iterdir())  # the work dir is gone
    worker.run("j")  # a second delivery of the same id runs nothing
    assert sqlite_store.get("j").attempts == 1  # type: ignore[union-attr]


def test_a_stop_asked_in_the_store_reaches_the_run(
    settings: Settings, sqlite_store: JobStore
) -> None:
    runner = Runner(wait=True)
    worker = worker_for(settings, sqlite_store, runner)
    job_id = add(sqlite_store)
    thread = in_thread(worker, job_id, worker.control(job_id))
    assert runner.started.wait(5)
    sqlite_store.request_stop(job_id)  # as StopSession on any replica does
    runner.release.set()
    thread.join(10)
    assert runner.saw_stop
    job = sqlite_store.get(job_id)
    assert job is not None and job.succeeded and job.progress == 1.0


@pytest.mark.parametrize(
    ("kind", "state"),
    [(JobKind.ARCHIVE_CLIP, JobState.NONE), (JobKind.LIVE_CLIP, JobState.COMPLETED)],
)
def test_a_shutdown_queues_again_what_can_run_again(
    settings: Settings, sqlite_store: JobStore, kind: JobKind, state: JobState
) -> None:
    runner = Runner(wait=True)
    worker = worker_for(settings, sqlite_store, runner)
    job_id = add(sqlite_store, kind)
    control = worker.control(job_id)
    thread = in_thread(worker, job_id, control)
    assert runner.started.wait(5)
    control.abort("the server shut down or restarted while this export was running")
    runner.release.set()
    thread.join(10)
    job = sqlite_store.get(job_id)
    assert job is not None and job.state is state and not job.files
    if state is JobState.COMPLETED:
        assert not job.succeeded and "shut down" in job.error
    else:
        assert job.owner is None  # any worker may take it
    assert not (settings.results_dir / job_id).exists()


def test_a_worker_that_lost_its_lease_keeps_nothing(
    settings: Settings, sqlite_store: JobStore
) -> None:
    runner = Runner(wait=True)
    worker = worker_for(settings, sqlite_store, runner)
    job_id = add(sqlite_store)
    control = worker.control(job_id)
    thread = in_thread(worker, job_id, control)
    assert runner.started.wait(5)
    assert sqlite_store.requeue(job_id, owner="w")  # the sweeper gave it away meanwhile
    assert sqlite_store.claim(job_id, owner="w2", lease_until=NOW + timedelta(hours=1))
    runner.release.set()
    thread.join(10)
    assert control.lost and runner.saw_stop
    job = sqlite_store.get(job_id)
    assert job is not None and job.owner == "w2" and job.state is JobState.RUNNING
    assert not (settings.results_dir / job_id).exists()


def test_a_worker_that_cannot_renew_in_time_stops(
    settings: Settings, sqlite_store: JobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    times = [NOW]
    add(sqlite_store)
    sqlite_store.claim("j", owner="w", lease_until=NOW + timedelta(seconds=1))
    control = StoreJobControl(
        sqlite_store,
        "j",
        "w",
        interval=timedelta(seconds=0.05),
        timeout=timedelta(seconds=1),
        clock=lambda: times[0],
    )

    def unreachable(*args: object, **kwargs: object) -> bool:
        raise ConnectionError("database away")

    monkeypatch.setattr(sqlite_store, "heartbeat", unreachable)
    control.heartbeat()
    assert not control.aborted  # within the lease: keep trying
    times[0] += timedelta(seconds=1)
    control.heartbeat()
    assert control.aborted and control.lost
