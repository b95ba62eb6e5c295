"""Scaled out for real: two API replicas and two agent workers as separate processes, on
PostgreSQL, Redis and S3 (moto), with processes killed (-9) along the way.

The tests run in file order against one cluster (``--dist loadfile`` keeps them
on one worker): what one test leaves, the next may rely on. Timings are the
cluster's: heartbeat every 0.3 s, lost after 3 s, timers every 0.2 s.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import grpc
import httpx
import pytest

from tests.api.harness import download
from tests.api.options import archive_clip, live_clip
from tests.conftest import make_bucket
from tests.media_fixtures import make_hls_archive
from tests.postgres import postgres_database
from tests.s3.archives import upload_tree
from tests.s3server import REGION
from tests.scaleout.cluster import Cluster, RedisServer, slow_http_archive
from vexport.jobs.model import Job, JobState
from vexport.jobs.store import JobStore
from vexport.protos.axxonsoft.bl.mmexport import ExportService_pb2 as spb
from vexport.protos.axxonsoft.bl.mmexport import ExportService_pb2_grpc as spb_grpc
from vexport.s3.client import S3Credentials

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

START = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
AGENT1 = "hosts/test/MMExportAgent.1"
AGENT2 = "hosts/test/MMExportAgent.2"
CAMERA = "hosts/test/DeviceIpint.1/SourceEndpoint.video:0:0"
PINNED = "hosts/test/DeviceIpint.2/SourceEndpoint.video:0:0"  # pinned to AGENT2
SLOW = "hosts/test/DeviceIpint.3/SourceEndpoint.video:0:0"  # archive over slow HTTP
LIVE = "hosts/test/DeviceIpint.9/SourceEndpoint.video:0:0"
CALLER = "broadcast-caller"
TIMEOUT = 3.0  # [jobs] heartbeat_timeout

pytestmark = pytest.mark.slow


def at(seconds: float) -> datetime:
    return START + timedelta(seconds=seconds)


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory,
    s3_client: S3Client,
    s3_endpoint_url: str,
    s3_credentials: S3Credentials,
) -> Iterator[Cluster]:
    directory = tmp_path_factory.mktemp("cluster")
    playlist = make_hls_archive(directory / "archive", START, 12.0)
    results = make_bucket(s3_client, "results")
    archives = make_bucket(s3_client, "archive")
    upload_tree(s3_client, playlist.parent, archives, "root/cam1")
    redis = RedisServer(directory)
    redis.start()
    with (
        postgres_database("vexport_scaleout") as url,
        slow_http_archive(playlist.parent, delay=2.0) as slow,
    ):
        sources = f"""
[[sources]]
origin = "{CAMERA}"
  [[sources.archives]]
  storage = "main"
  url = "{playlist.as_uri()}"

[[sources]]
origin = "{PINNED}"
agent = "{AGENT2}"
  [[sources.archives]]
  storage = "main"
  url = "{playlist.as_uri()}"

[[sources]]
origin = "{SLOW}"
  [[sources.archives]]
  storage = "main"
  url = "{slow}/{playlist.name}"

[[sources]]
origin = "{LIVE}"
live = "lavfi:testsrc2=size=320x180:rate=25"
"""
        extra = f"""
[export_to_s3dir]
session_ids = ["{CALLER}"]
archive_buckets = ["{archives}"]
time_wait = "0.2s"
fingerprint_key = "{secrets.token_hex(32)}"
"""
        cluster = Cluster(
            directory=directory,
            database_url=url,
            redis=redis,
            s3={
                "region": REGION,
                "endpoint_url": s3_endpoint_url,
                "access_key": s3_credentials.access_key,
                "results_bucket": results,
                "archive_bucket": archives,
            },
            secret=s3_credentials.secret_key,
            sources=sources,
            agents=[AGENT1, AGENT2],
            extra=extra,
        )
        for name in ("replica-1", "replica-2"):
            cluster.add_replica(name).start()
        cluster.add_worker("worker-1", AGENT1, metrics=True).start()
        cluster.add_worker("worker-2", AGENT2).start()
        try:
            for replica in cluster.replicas:
                cluster.wait_replica(replica)
            for worker in cluster.workers.values():
                cluster.wait_worker(worker)
            yield cluster
        except BaseException:
            print(cluster.logs())
            raise
        finally:
            cluster.stop()
            redis.stop()


@pytest.fixture(scope="module")
def store(cluster: Cluster) -> Iterator[JobStore]:
    """The test's own look at the jobs table (no migrations: the replicas made it)."""
    store = JobStore(cluster.database_url, migrate=False)
    yield store
    store.close()


def stubs(cluster: Cluster) -> tuple[spb_grpc.ExportServiceStub, spb_grpc.ExportServiceStub]:
    first, second = cluster.replicas
    return cluster.stub(first), cluster.stub(second)


def start(stub: spb_grpc.ExportServiceStub, options: Any) -> str:
    return str(
        stub.StartSession(spb.StartSessionRequest(session_options=options)).started_session_id
    )


def state_of(stub: spb_grpc.ExportServiceStub, session_id: str) -> spb.State:
    return stub.GetSessionState(spb.GetSessionStateRequest(session_id=session_id)).session_state


def wait_for(
    stub: spb_grpc.ExportServiceStub, session_id: str, states: set[int], timeout: float = 60
) -> spb.State:
    deadline = time.monotonic() + timeout
    while True:
        state = state_of(stub, session_id)
        if state.state in states:
            return state
        if time.monotonic() > deadline:
            raise AssertionError(f"{session_id} still {state}")
        time.sleep(0.1)


def wait_job(store: JobStore, job_id: str, ready: Any, timeout: float = 30) -> Job:
    deadline = time.monotonic() + timeout
    while True:
        job = store.get(job_id)
        if job is not None and ready(job):
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id}: {job}")
        time.sleep(0.05)


def test_a_session_started_on_one_replica_is_served_by_the_other(
    cluster: Cluster, store: JobStore, s3_client: S3Client
) -> None:
    one, two = stubs(cluster)
    session = start(one, archive_clip(CAMERA, at(1.0), at(4.0)))
    state = wait_for(two, session, {spb.S_COMPLETED})
    assert state.result.succeeded, state.error
    assert state.processing  # the intent, or what the files reported
    (file,) = state.result.files
    data, _ = download(two, session, file.path)
    assert hashlib.sha256(data).hexdigest() == file.sha256 and len(data) == file.size
    http = httpx.get(
        f"{cluster.http_url(cluster.replicas[0])}/api/v1/sessions/{session}/files/{file.path}",
        headers={"Range": "bytes=100-199"},
        timeout=30,
    )
    assert http.status_code == 206 and http.content == data[100:200]
    # The file lives in S3 (so any replica serves it), not on one replica's disk.
    bucket = cluster.s3["results_bucket"]
    listed = s3_client.list_objects_v2(Bucket=bucket, Prefix=f"results/{session}/")
    assert [o["Key"] for o in listed.get("Contents", [])] == [f"results/{session}/1/{file.path}"]

    # Stopped on the other replica: the stop reaches the worker through the store.
    live = start(two, live_clip(LIVE, None))
    wait_for(one, live, {spb.S_RUNNING})
    wait_job(store, live, lambda j: j.progress > 0 or j.last_frame is not None)
    asked = time.monotonic()
    stopped = one.StopSession(spb.StopSessionRequest(session_id=live)).session_state
    assert stopped.state == spb.S_COMPLETED and stopped.result.succeeded, stopped.error
    assert time.monotonic() - asked < 8  # the heartbeat reads the flag every 0.3 s
    assert stopped.result.files

    two.DestroySession(spb.DestroySessionRequest(session_id=session))
    assert state_of(one, session).state == spb.S_REMOVED
    listed = s3_client.list_objects_v2(Bucket=bucket, Prefix=f"results/{session}/")
    assert listed.get("KeyCount", 0) == 0
    pages = next(iter(one.ListSessions(spb.ListSessionsRequest(page_size=10))))
    assert {info.session.id for info in pages.sessions} >= {session, live}


def _samples(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(url, timeout=10).text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_of_replicas_and_agents_add_up(cluster: Cluster) -> None:
    """Scaled out, the replica counts the start and the agent the run: both are scraped."""
    one, _ = stubs(cluster)
    replica = f"{cluster.http_url(cluster.replicas[0])}/metrics"
    worker = f"http://127.0.0.1:{cluster.workers['worker-1'].metrics_port}/metrics"
    started = ("vexport_exports_started_total", (("kind", "archive_clip"),))
    finished = (
        "vexport_exports_finished_total", (("kind", "archive_clip"), ("outcome", "succeeded"))
    )  # fmt: skip
    before_replica, before_worker = _samples(replica), _samples(worker)
    options = archive_clip(CAMERA, at(1.0), at(2.0))
    options.export_agent_access_point = AGENT1
    session = start(one, options)
    assert wait_for(one, session, {spb.S_COMPLETED}).result.succeeded
    after_replica, after_worker = _samples(replica), _samples(worker)
    assert after_replica[started] == before_replica.get(started, 0) + 1
    assert after_worker[finished] == before_worker.get(finished, 0) + 1
    for agent in (AGENT1, AGENT2):
        assert ("vexport_queue_depth", (("agent", agent), ("state", "queued"))) in after_replica


def test_the_agent_named_or_pinned_runs_the_export(cluster: Cluster, store: JobStore) -> None:
    one, two = stubs(cluster)
    named = archive_clip(CAMERA, at(2.0), at(3.0))
    named.export_agent_access_point = AGENT2
    sessions = {
        "named": start(one, named),
        "default": start(two, archive_clip(CAMERA, at(2.0), at(3.0))),
        "pinned": start(one, archive_clip(PINNED, at(2.0), at(3.0))),
    }
    for session in sessions.values():
        assert wait_for(two, session, {spb.S_COMPLETED}).result.succeeded
    owners = {name: store.get(session).owner for name, session in sessions.items()}  # type: ignore[union-attr]
    assert owners == {"named": "worker-2", "default": "worker-1", "pinned": "worker-2"}
    unknown = archive_clip(CAMERA, at(2.0), at(3.0))
    unknown.export_agent_access_point = "hosts/test/MMExportAgent.9"
    with pytest.raises(grpc.RpcError) as error:
        start(one, unknown)
    assert error.value.code() == grpc.StatusCode.NOT_FOUND
    assert "export_agent_access_point" in error.value.details()


def _s3dir_body(cluster: Cluster, destination: str) -> dict[str, Any]:
    storage = [
        {
            "storage_purpose": "ts",
            "storage_type": "S3",
            "storage_enable": True,
            "storage_name": cluster.s3["archive_bucket"],
            "storage_location": REGION,
            "storage_root_folder": "root",
        }
    ]
    return {
        "SessionId": CALLER,
        "LivePath": "cam1/index.m3u8",
        "StartPos": round(at(2.0).timestamp() * 1000),
        "Duration": 2000,
        "storage_info": base64.b64encode(json.dumps(storage).encode()).decode(),
        "ExportS3Bucket": destination,
        "ExportS3Region": REGION,
        "ExportS3Key": f"{cluster.s3['access_key']}:{cluster.secret}",
        "FileName": "clips/one.ts",
    }


def test_export_to_s3dir_answers_the_same_on_either_replica(
    cluster: Cluster, s3_client: S3Client
) -> None:
    destination = make_bucket(s3_client, "dest")
    body = _s3dir_body(cluster, destination)
    first, second = (cluster.http_url(r) for r in cluster.replicas)
    started = httpx.post(f"{first}/export-to-s3dir", json=body, timeout=30).json()
    assert started["ErrorCode"] == 1, started
    deadline = time.monotonic() + 60
    answer: dict[str, Any] = {}
    while time.monotonic() < deadline:
        answer = httpx.post(f"{second}/export-to-s3dir", json=body, timeout=30).json()
        if answer["ErrorCode"] != 1:
            break
        time.sleep(0.2)
    assert answer["ErrorCode"] == 5, answer
    again = httpx.post(f"{first}/export-to-s3dir", json=body, timeout=30).json()
    assert again == answer
    key = answer["VideoPath"].removeprefix("/")  # a path in ExportS3Bucket (docs/api.md)
    assert s3_client.head_object(Bucket=destination, Key=key)["ContentLength"] > 0


def test_restarting_redis_loses_no_session(cluster: Cluster) -> None:
    one, two = stubs(cluster)
    cluster.redis.stop()
    try:
        # The broker is down: the session is stored and answered; its message waits.
        waiting = start(one, archive_clip(CAMERA, at(5.0), at(6.0)))
        assert state_of(two, waiting).state == spb.S_NONE
    finally:
        cluster.redis.start()  # empty: whatever it held is gone
    queued_after = start(two, archive_clip(CAMERA, at(6.0), at(7.0)))
    for session in (waiting, queued_after):
        state = wait_for(one, session, {spb.S_COMPLETED}, timeout=90)
        assert state.result.succeeded, state.error


def test_a_killed_worker_s_sessions_end_or_run_again_within_the_heartbeat_timeout(
    cluster: Cluster, store: JobStore
) -> None:
    one, two = stubs(cluster)
    worker = cluster.workers["worker-1"]
    slow = start(one, archive_clip(SLOW, at(0.0), at(11.0)))  # ~3 s of segment reads
    live = start(two, live_clip(LIVE, 60))
    for session in (slow, live):
        wait_job(store, session, lambda j: j.state is JobState.RUNNING and j.owner == "worker-1")
    worker.kill()
    killed = time.monotonic()
    ended = wait_job(store, live, lambda j: j.state is JobState.COMPLETED, timeout=TIMEOUT + 10)
    requeued = wait_job(store, slow, lambda j: j.state is JobState.NONE, timeout=TIMEOUT + 10)
    assert time.monotonic() - killed < TIMEOUT + 5
    assert not ended.succeeded and "no heartbeat for 3 s" in ended.error
    assert requeued.attempts == 1 and requeued.owner is None  # nobody runs it meanwhile
    worker.start()  # the same node again
    cluster.wait_worker(worker, ready_count=2)
    state = wait_for(two, slow, {spb.S_COMPLETED}, timeout=90)
    assert state.result.succeeded, state.error
    job = store.get(slow)
    assert job is not None and job.attempts == 2 and job.owner == "worker-1"
    assert state_of(one, live).error == ended.error


def test_a_killed_replica_s_download_resumes_on_the_other(cluster: Cluster) -> None:
    first, second = cluster.replicas
    one, two = cluster.stub(first), cluster.stub(second)
    session = start(one, archive_clip(CAMERA, at(0.0), at(10.0)))
    (file,) = wait_for(one, session, {spb.S_COMPLETED}).result.files
    chunk_kb = 16
    assert file.size > 4 * chunk_kb * 1024
    request = spb.DownloadFileRequest(
        session_id=session, file_path=file.path, chunk_size_kb=chunk_kb
    )
    stream = one.DownloadFile(request)
    received = [next(stream), next(stream)]
    assert [c.index for c in received] == [0, 1]
    first.kill()
    rest, indexes = download(
        two, session, file.path, chunk_size_kb=chunk_kb, start_from_chunk_index=2
    )
    assert indexes[0] == 2
    data = b"".join(c.data for c in received) + rest
    assert hashlib.sha256(data).hexdigest() == file.sha256
    assert state_of(two, session).state == spb.S_COMPLETED
