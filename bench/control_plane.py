"""Benchmark: the control plane with 10,000 sessions in the store and 100 concurrent clients.

A ``vexport serve`` process (embedded SQLite, then PostgreSQL) answers
GetSessionState and ListSessions from 100 concurrent gRPC clients in this
process (asyncio, one channel each) while the timers run as usual. Three
loads per call:

- *every 500 ms*: each client polls as ``vexport client`` does (200 calls/s
  offered); latency is what a client waits;
- *every 100 ms*: five times that (1,000 calls/s offered);
- *closed loop*: each client calls again as soon as it has its answer (the
  server's throughput, and the latency at saturation).

The store holds 10,000 completed sessions, each with a result file, made
with the engine's own tables. Prints p50/p99 in ms and calls/s; numbers
compare within one run on one machine, never assertions.
Run: ``.venv/bin/python bench/control_plane.py [--seconds 10] [--skip-postgres]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.postgres import postgres_database  # noqa: E402
from vexport.jobs.store import JobStore  # noqa: E402
from vexport.jobs.tables import FileRow, JobRow  # noqa: E402
from vexport.protos.axxonsoft.bl.mmexport import Export_pb2 as pb  # noqa: E402
from vexport.protos.axxonsoft.bl.mmexport import ExportService_pb2 as spb  # noqa: E402
from vexport.protos.axxonsoft.bl.mmexport import ExportService_pb2_grpc as spb_grpc  # noqa: E402

SESSIONS = 10_000
CLIENTS = 100
PACES = (0.5, 0.1, None)  # each client calls every 500 ms, every 100 ms, or back to back


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def fill(database_url: str) -> list[str]:
    """10,000 completed archive-clip sessions with one MP4 each, as the engine stores them."""
    store = JobStore(database_url)
    now = datetime.now(UTC)
    options = pb.Options()
    options.archive.sources.add(origin="hosts/bench/DeviceIpint.1/SourceEndpoint.video:0:0")
    options.archive.start_timestamp = "20260101T120000"
    options.archive.end_timestamp = "20260101T120010"
    options.stream.format = pb.StreamType.MP4
    raw = options.SerializeToString()
    plan = {"plan": {"kind": "archive_clip", "container": "mp4", "sources": []}}
    ids = [str(uuid.uuid4()) for _ in range(SESSIONS)]
    jobs = [
        {
            "id": job_id,
            "kind": "archive_clip",
            "listed": True,
            "agent": "bench",
            "state": 2,
            "created_at": now,
            "request": plan,
            "options": raw,
            "timezone_minutes": 0,
            "progress": 1.0,
            "last_frame": now,
            "succeeded": True,
            "error": "",
            "processing": "smart cut: 12 of 250 frames re-encoded",
            "stop_requested": False,
            "owner": "bench",
            "attempts": 1,
            "publishes": 1,
            "completed_at": now,
            "last_access_at": now,
            "last_poll_at": now,
            "outcome": {},
        }
        for job_id in ids
    ]
    with store.engine.begin() as connection:
        connection.execute(JobRow.__table__.insert(), jobs)
        seqs = dict(connection.execute(JobRow.__table__.select().with_only_columns(
            JobRow.id, JobRow.seq)).all())  # type: ignore[attr-defined]  # fmt: skip
        files = [
            {
                "job_seq": seqs[job_id],
                "position": 0,
                "file_id": "export_cam_001.mp4",
                "origin": "hosts/bench/DeviceIpint.1/SourceEndpoint.video:0:0",
                "size": 1_234_567,
                "first_frame": now,
                "last_frame": now + timedelta(seconds=10),
                "mime_type": "video/mp4",
                "sha256": "ab" * 32,
                "cloud_id": "",
                "storage_key": f"{job_id}/1/export_cam_001.mp4",
            }
            for job_id in ids
        ]
        connection.execute(FileRow.__table__.insert(), files)
    store.close()
    return ids


def serve(directory: Path, database_url: str | None) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    config = directory / "vexport.toml"
    database = f'database_url = "{database_url}"' if database_url else ""
    config.write_text(
        textwrap.dedent(
            f"""
            [server]
            grpc = "127.0.0.1:{port}"
            http = "127.0.0.1:0"
            data_dir = "{directory / "data"}"

            [sessions]
            retention = "1000h"
            {database}

            [[agents]]
            access_point = "bench"
            """
        )
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "vexport", "serve", "--config", str(config), "--log-level",
         "warning"],
        stdout=subprocess.DEVNULL,
        stderr=(directory / "serve.log").open("wb"),
    )  # fmt: skip
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    grpc.channel_ready_future(channel).result(timeout=60)
    channel.close()
    return process, port


async def load(
    port: int, call: Callable[[spb_grpc.ExportServiceStub], Awaitable[object]], *,
    seconds: float, pace: float | None,
) -> tuple[list[float], float]:  # fmt: skip
    """Latencies (s) of ``CLIENTS`` clients calling for ``seconds``, and calls per second."""
    latencies: list[float] = []
    stop_at = time.monotonic() + seconds
    warm_until = time.monotonic() + 1.0

    async def client() -> None:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = spb_grpc.ExportServiceStub(channel)
            await asyncio.sleep(random.random() * (pace or 0.01))
            while (now := time.monotonic()) < stop_at:
                await call(stub)
                done = time.monotonic()
                if now > warm_until:
                    latencies.append(done - now)
                if pace is not None:
                    await asyncio.sleep(max(0.0, pace - (done - now)))

    await asyncio.gather(*(client() for _ in range(CLIENTS)))
    return latencies, len(latencies) / (seconds - 1.0)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000


def run(label: str, database_url: str | None, seconds: float) -> list[tuple[str, ...]]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        url = database_url or f"sqlite:///{directory / 'data' / 'vexport.db'}"
        (directory / "data").mkdir()
        print(f"{label}: storing {SESSIONS} sessions…", flush=True)
        ids = fill(url)
        process, port = serve(directory, database_url)
        try:

            async def get_state(stub: spb_grpc.ExportServiceStub) -> object:
                request = spb.GetSessionStateRequest(session_id=random.choice(ids))
                return await stub.GetSessionState(request)

            def list_sessions(
                size: int,
            ) -> Callable[[spb_grpc.ExportServiceStub], Awaitable[object]]:
                async def call(stub: spb_grpc.ExportServiceStub) -> object:
                    request = spb.ListSessionsRequest(page_size=size)
                    return [reply async for reply in stub.ListSessions(request)]

                return call

            for name, call in (
                ("GetSessionState", get_state),
                ("ListSessions (10 per page)", list_sessions(10)),
                ("ListSessions (100 per page)", list_sessions(100)),
            ):
                for pace in PACES:
                    latencies, rate = asyncio.run(load(port, call, seconds=seconds, pace=pace))
                    mode = f"every {pace * 1000:.0f} ms" if pace else "closed loop"
                    row = (label, name, mode, f"{percentile(latencies, 0.5):.1f}",
                           f"{percentile(latencies, 0.99):.1f}", f"{rate:.0f}")  # fmt: skip
                    print("  ".join(row), flush=True)
                    rows.append(row)
        finally:
            process.terminate()
            process.wait(20)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    os.environ.pop("VEXPORT_CONFIG", None)
    rows = run("embedded (SQLite)", None, args.seconds)
    if not args.skip_postgres:
        with postgres_database("vexport_bench") as url:
            rows += run("PostgreSQL", url, args.seconds)
    print("\n| store | call | load | p50 ms | p99 ms | calls/s |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print(f"\n{CLIENTS} clients, {SESSIONS} sessions, {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
