"""The timers with an injected clock: watchdog, retention, lost workers, re-publishing, and
one sweeper at a time across replicas."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.api.harness import make_settings
from vexport.config import Settings
from vexport.jobs.ledger import PollLedger
from vexport.jobs.model import JobKind, JobState
from vexport.jobs.node import NodePresence
from vexport.jobs.recovery import Recovery
from vexport.jobs.service import JobService
from vexport.jobs.store import JobStore, NewJob
from vexport.jobs.timers import Sweeper
from vexport.results.local import LocalResultStore

START = datetime(2026, 1, 1, 12, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class FakeExecutor:
    access_point = "agent"

    def __init__(self) -> None:
        self.submitted: list[str] = []
        self.woken: list[str] = []
        self.broken = False

    def submit(self, job_id: str) -> None:
        if self.broken:
            raise ConnectionError("broker down")
        self.submitted.append(job_id)

    def wake(self, job_id: str) -> None:
        self.woken.append(job_id)

    async def close(self) -> None:
        pass


class Replica:
    """One serving process's timers over a shared store."""

    def __init__(self, settings: Settings, store: JobStore, clock: Clock, name: str) -> None:
        self.executor = FakeExecutor()
        self.ledger = PollLedger()
        results = LocalResultStore(settings.results_dir)
        self.service = JobService(
            settings, store, results, {"agent": self.executor}, self.ledger, clock=clock
        )
        self.presence = NodePresence(store, name, ttl=timedelta(seconds=30), clock=clock)
        self.presence.claim()
        self.sweeper = Sweeper(
            settings,
            store,
            self.service,
            self.ledger,
            Recovery(store, results, settings.jobs, clock=clock),
            self.presence,
            clock=clock,
        )


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(
        tmp_path,
        agents=[{"access_point": "agent"}],
        sessions={"watchdog_live_clip": "5m", "watchdog": "30m", "retention": "1h"},
        jobs={"heartbeat_timeout": "30s", "republish_after": "15s", "max_attempts": 2},
    )


def add(store: JobStore, job_id: str, kind: JobKind = JobKind.ARCHIVE_CLIP) -> None:
    store.add(NewJob(id=job_id, kind=kind, agent="agent", created_at=START, request={"plan": {}}))


def test_the_watchdog_stops_what_nobody_polls_and_polls_keep_it(
    settings: Settings, store: JobStore, clock: Clock
) -> None:
    replica = Replica(settings, store, clock, "a")
    add(store, "live", JobKind.LIVE_CLIP)
    add(store, "polled", JobKind.LIVE_CLIP)
    add(store, "clip")
    for job_id in ("live", "polled", "clip"):
        store.claim(job_id, owner="w", lease_until=START + timedelta(hours=2))
    for _ in range(6):
        clock.advance(minutes=1)
        replica.service.get_state("polled")  # a note in memory, written by the next pass
        store.heartbeat("live", owner="w", lease_until=clock.now + timedelta(hours=1),
                        progress=0, last_frame=None)  # fmt: skip
        replica.sweeper.tick()
    assert store.get("live").stop_requested  # type: ignore[union-attr]
    assert not store.get("polled").stop_requested  # type: ignore[union-attr]
    assert not store.get("clip").stop_requested  # type: ignore[union-attr]
    assert replica.executor.woken == ["live"]
    clock.advance(minutes=25)
    replica.sweeper.tick()
    assert store.get("clip").stop_requested  # type: ignore[union-attr]


def test_a_poll_writes_nothing_until_the_timers_pass(
    settings: Settings, store: JobStore, clock: Clock
) -> None:
    replica = Replica(settings, store, clock, "a")
    add(store, "j")
    clock.advance(seconds=5)
    replica.service.get_state("j")
    assert store.get("j").last_poll_at == START  # type: ignore[union-attr]
    replica.sweeper.tick()
    assert store.get("j").last_poll_at == clock.now  # type: ignore[union-attr]


def test_retention_removes_unless_downloads_or_polls_reset_it(
    settings: Settings, store: JobStore, clock: Clock
) -> None:
    replica = Replica(settings, store, clock, "a")
    for job_id in ("kept", "dropped"):
        add(store, job_id)
        store.complete(job_id, succeeded=True, error="", files=[], now=START)
    for _ in range(4):
        clock.advance(minutes=20)
        replica.service.touch_download("kept")
        replica.sweeper.tick()
    assert store.get("kept").state is JobState.COMPLETED  # type: ignore[union-attr]
    assert store.get("dropped").state is JobState.REMOVED  # type: ignore[union-attr]
    clock.advance(days=3)
    replica.sweeper.tick()
    assert store.get("dropped") is None  # forgotten after removed_kept


def test_a_lost_worker_s_jobs_run_again_or_fail_after_the_heartbeat_timeout(
    settings: Settings, store: JobStore, clock: Clock
) -> None:
    replica = Replica(settings, store, clock, "a")
    add(store, "clip")
    add(store, "live", JobKind.LIVE_CLIP)
    for job_id in ("clip", "live"):
        store.claim(job_id, owner="dead", lease_until=clock.now + timedelta(seconds=30))
    clock.advance(seconds=29)
    replica.sweeper.tick()
    assert store.get("clip").state is JobState.RUNNING  # type: ignore[union-attr]
    clock.advance(seconds=2)
    replica.sweeper.tick()
    clip, live = store.get("clip"), store.get("live")
    assert clip is not None and live is not None
    assert clip.state is JobState.NONE and clip.owner is None  # queued again…
    assert replica.executor.submitted == ["clip"]  # …and published at once
    assert live.state is JobState.COMPLETED and not live.succeeded
    assert "no heartbeat for 30 s" in live.error
    # The second run's worker dies too: max_attempts (2) runs, then the reason.
    store.claim("clip", owner="dead-too", lease_until=clock.now + timedelta(seconds=30))
    clock.advance(seconds=31)
    replica.sweeper.tick()
    clip = store.get("clip")
    assert clip is not None and clip.state is JobState.COMPLETED and clip.attempts == 2
    assert "stopped answering" in clip.error


def test_queued_jobs_are_published_again_with_a_growing_wait(
    settings: Settings, store: JobStore, clock: Clock
) -> None:
    replica = Replica(settings, store, clock, "a")
    replica.executor.broken = True
    from vexport.jobs.requests import ExportRequest
    from vexport.media.formats import ContainerFormat, ExportKind
    from vexport.media.plan import SourcePlan

    request = ExportRequest(
        kind=ExportKind.ARCHIVE_SNAPSHOT,
        sources=(SourcePlan(origin="cam", name="cam", storage="main"),),
        container=ContainerFormat.JPEG,
        agent=None,
        start=START,
        end=None,
        duration_seconds=None,
        max_file_size=0,
        file_stem="export",
        timezone_minutes=0,
    )
    job_id = replica.service.start(request, b"")  # the broker is down: stored, not sent
    assert store.get(job_id).state is JobState.NONE  # type: ignore[union-attr]
    replica.executor.broken = False
    replica.sweeper.tick()
    assert replica.executor.submitted == [job_id]
    for seconds, expected in ((14, 1), (17, 2), (59, 2), (2, 3)):
        clock.advance(seconds=seconds)
        replica.sweeper.tick()
        assert len(replica.executor.submitted) == expected, seconds


def test_one_replica_sweeps_and_another_takes_over_when_it_stops(
    settings: Settings, store: JobStore, clock: Clock
) -> None:
    first = Replica(settings, store, clock, "a")
    second = Replica(settings, store, clock, "b")
    assert first.sweeper.tick()
    assert not second.sweeper.tick()
    clock.advance(seconds=1)
    assert first.sweeper.tick() and not second.sweeper.tick()
    clock.advance(seconds=10)  # the first stopped renewing
    assert second.sweeper.tick()
    assert not first.sweeper.tick()


def test_a_node_name_is_one_live_process_s_until_that_process_is_gone(
    settings: Settings, store: JobStore, clock: Clock
) -> None:
    """Another live process of this host holds the name: refused; once it is dead: taken."""
    import socket
    import subprocess

    from vexport.jobs.node import NodeInUse

    other = subprocess.Popen(["sleep", "30"])
    try:
        first = NodePresence(store, "same", ttl=timedelta(seconds=30), clock=clock)
        first.instance = f"{socket.gethostname()}:{other.pid}:cafe"
        first.claim()
        with pytest.raises(NodeInUse, match="'same' is in use"):
            NodePresence(store, "same", ttl=timedelta(seconds=30), clock=clock).claim()
    finally:
        other.kill()
        other.wait()
    NodePresence(store, "same", ttl=timedelta(seconds=30), clock=clock).claim()  # crash, restart
