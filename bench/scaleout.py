"""Benchmark: export throughput of one agent served by one worker process, then by two.

Scaled out as deployed: one API replica, ``vexport agent`` workers for one
agent (each running one export at a time), PostgreSQL, a Redis of its own.
N archive clips (stream copy of 20 s from a 60 s HLS archive on disk) are
started at once; the time is from the first StartSession to the last
S_COMPLETED, read from the store. A stream copy runs in one Python thread
(demux, remux), so one worker keeps about one core busy and two can use the
machine's two; the ratio says how much of that the engine keeps.
Run: ``.venv/bin/python bench/scaleout.py [--exports 40]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.api.options import archive_clip  # noqa: E402
from tests.media_fixtures import make_hls_archive  # noqa: E402
from tests.postgres import postgres_database  # noqa: E402
from tests.scaleout.cluster import Cluster, RedisServer  # noqa: E402
from vexport.jobs.model import JobState  # noqa: E402
from vexport.jobs.store import JobStore  # noqa: E402
from vexport.protos.axxonsoft.bl.mmexport import ExportService_pb2 as spb  # noqa: E402

START = datetime(2026, 1, 1, 12, tzinfo=UTC)
AGENT = "hosts/bench/MMExportAgent.1"
CAMERA = "hosts/bench/DeviceIpint.1/SourceEndpoint.video:0:0"


def run(
    workers: int, exports: int, playlist: Path, directory: Path
) -> tuple[float, dict[str, int]]:
    redis = RedisServer(directory)
    redis.start()
    try:
        with postgres_database("vexport_bench") as url:
            cluster = Cluster(
                directory=directory,
                database_url=url,
                redis=redis,
                s3={},
                secret="",
                sources=f"""
[[sources]]
origin = "{CAMERA}"
  [[sources.archives]]
  storage = "main"
  url = "{playlist.as_uri()}"
""",
                agents=[AGENT],
                max_running=1,
                results="local",
            )
            replica = cluster.add_replica(f"replica-{workers}")
            replica.start()
            started = [cluster.add_worker(f"worker-{workers}-{i}", AGENT) for i in range(workers)]
            for worker in started:
                worker.start()
            try:
                cluster.wait_replica(replica)
                for worker in started:
                    cluster.wait_worker(worker)
                stub = cluster.stub(replica)
                store = JobStore(url, migrate=False)
                began = time.monotonic()
                ids = []
                for index in range(exports):
                    offset = (index % 30) + 1.0
                    options = archive_clip(
                        CAMERA,
                        START + timedelta(seconds=offset),
                        START + timedelta(seconds=offset + 20),
                    )
                    reply = stub.StartSession(spb.StartSessionRequest(session_options=options))
                    ids.append(reply.started_session_id)
                while True:
                    done = [store.get(job_id) for job_id in ids]
                    if all(j is not None and j.state is JobState.COMPLETED for j in done):
                        break
                    time.sleep(0.05)
                elapsed = time.monotonic() - began
                failed = [j.error for j in done if j is not None and not j.succeeded]
                if failed:
                    raise SystemExit(f"{len(failed)} exports failed: {failed[0]}")
                store.close()
                share: dict[str, int] = {}
                for job in done:
                    if job is not None and job.owner:
                        share[job.owner] = share.get(job.owner, 0) + 1
                return elapsed, share
            finally:
                cluster.stop()
    finally:
        redis.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--exports", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=2, help="runs per case; the best counts")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        print("making a 60 s HLS archive (320x180, 25 fps)...", flush=True)
        playlist = make_hls_archive(directory / "archive", START, 60.0)
        results = {}
        for _ in range(args.repeat):
            for workers in (1, 2):
                load = os.getloadavg()[0]
                elapsed, share = run(workers, args.exports, playlist, directory)
                results[workers] = min(results.get(workers, elapsed), elapsed)
                by_worker = sorted(share.values())
                print(f"{workers} worker(s): {args.exports} exports in {elapsed:.1f} s "
                      f"({args.exports / elapsed:.2f} exports/s; by worker {by_worker};"
                      f" load average before {load:.1f})", flush=True)  # fmt: skip
        print(f"ratio (2 workers / 1): {results[1] / results[2]:.2f}")


if __name__ == "__main__":
    main()
