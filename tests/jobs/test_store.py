"""The store's transitions and leases, on SQLite and PostgreSQL: racing writers agree."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from vexport.errors import Unavailable
from vexport.jobs.model import TRANSITIONS, JobKind, JobState, can_move, sources_of
from vexport.jobs.store import DuplicateJob, JobStore, NewJob
from vexport.results.base import ResultFile

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)
LEASE = NOW + timedelta(seconds=30)


def new(job_id: str, **fields: Any) -> NewJob:
    values: dict[str, Any] = {
        "id": job_id,
        "kind": JobKind.ARCHIVE_CLIP,
        "agent": "agent",
        "created_at": NOW,
        "request": {"plan": {}},
    }
    values.update(fields)
    return NewJob(**values)


def file(name: str = "a.mp4") -> ResultFile:
    return ResultFile(name, "cam", 10, NOW, NOW, "video/mp4", "0" * 64, key=f"j/1/{name}")


def race(count: int, call: Callable[[int], Any]) -> list[Any]:
    """``call(i)`` from ``count`` threads released at once."""
    barrier = threading.Barrier(count)

    def run(index: int) -> Any:
        barrier.wait()
        return call(index)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count)))


def test_the_state_machine_never_goes_back_past_running() -> None:
    assert not can_move(JobState.COMPLETED, JobState.RUNNING)
    assert not can_move(JobState.REMOVED, JobState.COMPLETED)
    assert can_move(JobState.RUNNING, JobState.NONE)  # a lost worker's job queued again
    assert set(sources_of(JobState.COMPLETED)) == {JobState.NONE, JobState.RUNNING}
    assert all(state not in TRANSITIONS[state] for state in JobState)


def test_of_many_workers_handed_one_job_exactly_one_runs_it(store: JobStore) -> None:
    store.add(new("j"))
    claims = race(8, lambda i: store.claim("j", owner=f"w{i}", lease_until=LEASE))
    winners = [c for c in claims if c is not None]
    assert len(winners) == 1
    job = store.get("j")
    assert job is not None and job.state is JobState.RUNNING and job.attempts == 1
    assert job.owner == winners[0].owner


def test_heartbeat_renews_reports_progress_and_reads_the_stop_flag(store: JobStore) -> None:
    store.add(new("j"))
    assert store.claim("j", owner="w", lease_until=LEASE) is not None
    later = LEASE + timedelta(seconds=1)
    assert store.heartbeat("j", owner="w", lease_until=later, progress=0.5, last_frame=NOW) is False
    job = store.get("j")
    assert job is not None and (job.progress, job.last_frame, job.lease_expires_at) == (
        0.5, NOW, later,
    )  # fmt: skip
    assert store.request_stop("j")
    assert store.heartbeat("j", owner="w", lease_until=later, progress=0.6, last_frame=None)
    # Not this worker's job: None, and nothing written.
    assert (
        store.heartbeat("j", owner="other", lease_until=later, progress=0.9, last_frame=None)
        is None
    )


def test_completion_is_compare_and_set_on_state_and_owner(store: JobStore) -> None:
    store.add(new("j"))
    store.claim("j", owner="w", lease_until=LEASE)
    assert not store.complete("j", owner="other", succeeded=True, error="", files=[], now=NOW)
    assert store.complete("j", owner="w", succeeded=True, error="", files=[file()], now=NOW)
    assert not store.complete("j", succeeded=False, error="late", files=[], now=NOW)
    job = store.get("j")
    assert job is not None and job.succeeded and job.files == [file()]
    assert job.lease_expires_at is None and job.progress == 1.0


def test_a_client_stop_and_a_worker_finish_racing_end_one_way(store: JobStore) -> None:
    for index in range(10):
        store.add(new(f"j{index}"))
        store.claim(f"j{index}", owner="w", lease_until=LEASE)

    def finish_or_stop(i: int) -> bool:
        job_id = f"j{i // 2}"
        if i % 2:
            return store.complete(job_id, owner="w", succeeded=True, error="", files=[], now=NOW)
        return store.complete(job_id, succeeded=False, error="stopped", files=[], now=NOW)

    outcomes = race(20, finish_or_stop)
    assert all(outcomes[2 * i] != outcomes[2 * i + 1] for i in range(10))


def test_requeue_only_for_the_owner_and_then_any_worker_claims(store: JobStore) -> None:
    store.add(new("j"))
    store.claim("j", owner="dead", lease_until=LEASE)
    assert not store.requeue("j", owner="someone-else")
    assert store.requeue("j", owner="dead")
    assert store.claim("j", owner="dead", lease_until=LEASE) is not None  # nobody's any more
    job = store.get("j")
    assert job is not None and job.attempts == 2 and job.owner == "dead"


def test_a_reserved_job_is_claimed_only_by_its_node(store: JobStore) -> None:
    store.add(new("j", kind=JobKind.S3DIR, owner="replica-a", lease_expires_at=LEASE))
    assert store.claim("j", owner="replica-b", lease_until=LEASE) is None
    assert store.claim("j", owner="replica-a", lease_until=LEASE) is not None


def test_a_fingerprint_makes_one_job_whoever_inserts(store: JobStore) -> None:
    def insert(i: int) -> str:
        try:
            return store.add(new(f"j{i}", kind=JobKind.S3DIR, fingerprint="f" * 64)).id
        except DuplicateJob as duplicate:
            return duplicate.existing.id

    ids = race(6, insert)
    assert len(set(ids)) == 1


def test_pages_are_keyset_on_seq_and_skip_unlisted_jobs(store: JobStore) -> None:
    for index in range(5):
        store.add(new(f"s{index}"))
    store.add(new("x", kind=JobKind.S3DIR))
    first = store.page(before_seq=None, limit=2)
    assert [j.id for j in first] == ["s4", "s3"]
    store.add(new("late"))
    second = store.page(before_seq=first[-1].seq, limit=10)
    assert [j.id for j in second] == ["s2", "s1", "s0"]


def test_touches_only_move_forward(store: JobStore) -> None:
    store.add(new("j"))
    later, earlier = NOW + timedelta(minutes=2), NOW + timedelta(minutes=1)
    store.record_touches({"j": later}, {})
    store.record_touches({"j": earlier, "missing": later}, {"j": earlier})
    job = store.get("j")
    assert job is not None and job.last_poll_at == later and job.last_access_at == earlier


def test_a_lease_has_one_holder_until_it_expires(store: JobStore) -> None:
    holders = race(
        6,
        lambda i: store.acquire_lease("timers", owner=f"p{i}", until=LEASE, now=NOW),
    )
    assert holders.count(True) == 1
    winner = f"p{holders.index(True)}"
    assert store.acquire_lease("timers", owner=winner, until=LEASE, now=NOW)  # renewal
    assert not store.acquire_lease("timers", owner="late", until=LEASE, now=NOW)
    after = LEASE + timedelta(seconds=1)
    assert store.acquire_lease("timers", owner="late", until=after + (LEASE - NOW), now=after)
    store.release_lease("timers", owner="late")
    assert store.lease_holder("timers") is None


def test_counts_and_the_due_queries(store: JobStore) -> None:
    store.add(new("queued"))
    store.add(new("running"))
    store.claim("running", owner="w", lease_until=NOW + timedelta(seconds=5))
    assert store.count_by_state("agent") == {JobState.NONE: 1, JobState.RUNNING: 1}
    assert [d.id for d in store.leases_expired(now=NOW + timedelta(seconds=6))] == ["running"]
    assert [d.id for d in store.owned_by("w")] == ["running"]

    def due(seconds: float) -> list[str]:
        at = NOW + timedelta(seconds=seconds)
        return [d.id for d in store.publish_due(agents=["agent"], now=at, base_seconds=10)]

    assert due(9) == []  # handed over when it was added
    assert due(11) == ["queued"]
    store.mark_published(["queued"], NOW + timedelta(seconds=11))  # then the wait doubles
    assert due(30) == [] and due(32) == ["queued"]
    store.mark_unpublished("queued")
    assert due(12) == ["queued"]
    assert [d.id for d in store.queued_for_other_agents(["another"])] == ["queued"]


def test_the_migrations_make_the_models_schema_on_postgresql(postgres_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from vexport.jobs.tables import Base

    store = JobStore(postgres_url)
    try:
        with store.engine.connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    finally:
        store.close()


def test_a_full_database_is_unavailable_in_words_and_reads_go_on(tmp_path: Path) -> None:
    """SQLite's own SQLITE_FULL (a page limit on every connection): no SQL in the message."""
    store = JobStore(f"sqlite:///{tmp_path / 'full.db'}")
    try:
        store.add(new("kept"))
        pages = store.engine.connect().exec_driver_sql("PRAGMA page_count").scalar()
        store.engine.dispose()

        @event.listens_for(store.engine, "connect")
        def _limit(connection: Any, record: Any) -> None:
            connection.execute(f"PRAGMA max_page_count = {pages}")

        with pytest.raises(Unavailable) as caught:
            for index in range(200):  # until the pages run out
                store.add(new(f"more-{index}", request={"plan": {"pad": "x" * 4000}}))
        message = str(caught.value)
        assert "disk is full" in message
        assert "INSERT" not in message and "jobs" not in message and "sqlite" not in message
        kept = store.get("kept")
        assert kept is not None and kept.id == "kept"  # reads go on
        assert "kept" in {job.id for job in store.page(before_seq=None, limit=1000)}
    finally:
        store.close()
