"""A scaled-out vexport on this machine: API replicas and agent workers as processes.

Real PostgreSQL (a database of its own), a Redis server of its own on a
free port (so it can be restarted without touching anyone else's), the
tests' moto S3 server for results and export-to-s3dir, and ``vexport serve``
/ ``vexport agent`` processes started from one configuration each. Every
process logs to a file beside its configuration; ``Cluster.logs()`` shows
them when something fails.
"""

from __future__ import annotations

import http.server
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import grpc

from vexport.protos.axxonsoft.bl.mmexport import ExportService_pb2_grpc as spb_grpc


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """``redis-server`` on a free loopback port, keeping nothing on disk (like the machine's)."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.directory = directory
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None


class _SlowArchive(http.server.SimpleHTTPRequestHandler):
    """Serves an archive's files, each segment after a pause (an export that takes a while)."""

    delay = 0.0

    def do_GET(self) -> None:
        if self.path.endswith(".ts"):
            time.sleep(self.delay)
        super().do_GET()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def slow_http_archive(directory: Path, delay: float) -> Iterator[str]:
    """The archive in ``directory`` over HTTP on loopback, ``delay`` s per segment; its URL."""
    handler = type("Handler", (_SlowArchive,), {"delay": delay})
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), partial(handler, directory=str(directory))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Process:
    name: str
    command: list[str]
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None
    grpc_port: int = 0
    http_port: int = 0
    metrics_port: int = 0

    def start(self) -> None:
        handle = self.log.open("ab")
        self.process = subprocess.Popen(
            self.command, env=self.env, stdout=handle, stderr=subprocess.STDOUT
        )
        handle.close()

    def kill(self) -> None:
        """kill -9: no shutdown of any kind."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@dataclass
class Cluster:
    directory: Path
    database_url: str
    redis: RedisServer
    s3: dict[str, Any]
    secret: str
    sources: str
    agents: list[str]
    extra: str = ""
    # Exports one agent runs at once per worker.
    max_running: int = 2
    # "s3": results in the test's S3 bucket (any replica serves them); "local": each
    # worker keeps its files in its own data_dir (benchmarks that never download).
    results: str = "s3"
    replicas: list[Process] = field(default_factory=list)
    workers: dict[str, Process] = field(default_factory=dict)

    def config(self, name: str, grpc_port: int, http_port: int) -> Path:
        path = self.directory / f"{name}.toml"
        path.write_text(
            textwrap.dedent(
                f"""
                [server]
                grpc = "127.0.0.1:{grpc_port}"
                http = "127.0.0.1:{http_port}"
                data_dir = "{self.directory / name}"
                shutdown_grace = "1s"

                [sessions]
                database_url = "{self.database_url}"
                timer_interval = "0.2s"
                snapshot_wait = "10s"

                [jobs]
                executor = "celery"
                broker_url = "{self.redis.url}"
                heartbeat_interval = "0.3s"
                heartbeat_timeout = "3s"
                republish_after = "1s"

                [evidence]
                manifest = false

                """
            )
            + (self._s3_sections() if self.results == "s3" else "")
            + "".join(
                f'\n[[agents]]\naccess_point = "{a}"\nmax_running = {self.max_running}\n'
                for a in self.agents
            )
            + self.sources
            + self.extra
        )
        return path

    def _s3_sections(self) -> str:
        return textwrap.dedent(
            f"""
            [s3]
            region = "{self.s3["region"]}"
            endpoint_url = "{self.s3["endpoint_url"]}"
            access_key = "{self.s3["access_key"]}"
            addressing_style = "path"

            [results]
            store = "s3"
            store_bucket = "{self.s3["results_bucket"]}"
            store_prefix = "results/"
            """
        )

    def _env(self) -> dict[str, str]:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        if self.secret:
            env["VEXPORT_S3__SECRET_KEY"] = self.secret
        return env

    def add_replica(self, name: str) -> Process:
        grpc_port, http_port = free_port(), free_port()
        config = self.config(name, grpc_port, http_port)
        process = Process(
            name,
            [sys.executable, "-m", "vexport", "serve", "--config", str(config)],
            {**self._env(), "VEXPORT_JOBS__NODE": name},
            self.directory / f"{name}.log",
            grpc_port=grpc_port,
            http_port=http_port,
        )
        self.replicas.append(process)
        return process

    def add_worker(self, name: str, agent: str, *, metrics: bool = False) -> Process:
        """A ``vexport agent``; with ``metrics``, serving its /metrics on a port of its own."""
        config = self.config(name, 0, 0)
        metrics_port = free_port() if metrics else 0
        process = Process(
            name,
            [sys.executable, "-m", "vexport", "agent", "--config", str(config),
             "--access-point", agent, "--node", name,
             *(["--metrics", f"127.0.0.1:{metrics_port}"] if metrics else [])],
            self._env(),
            self.directory / f"{name}.log",
            metrics_port=metrics_port,
        )  # fmt: skip
        self.workers[name] = process
        return process

    def wait_replica(self, replica: Process, timeout: float = 60) -> None:
        channel = grpc.insecure_channel(f"127.0.0.1:{replica.grpc_port}")
        try:
            grpc.channel_ready_future(channel).result(timeout=timeout)
        except grpc.FutureTimeoutError:
            raise AssertionError(f"{replica.name} did not start:\n{replica.text()}") from None
        finally:
            channel.close()

    def wait_worker(self, worker: Process, timeout: float = 60, ready_count: int = 1) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if worker.text().count(" ready.") >= ready_count:
                return
            if worker.process is not None and worker.process.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"{worker.name} did not start:\n{worker.text()}")

    def stub(self, replica: Process) -> spb_grpc.ExportServiceStub:
        channel = grpc.insecure_channel(
            f"127.0.0.1:{replica.grpc_port}", options=[("grpc.max_receive_message_length", 8 << 20)]
        )
        return spb_grpc.ExportServiceStub(channel)

    def http_url(self, replica: Process) -> str:
        return f"http://127.0.0.1:{replica.http_port}"

    def logs(self) -> str:
        processes = [*self.replicas, *self.workers.values()]
        return "\n".join(f"===== {p.name}\n{p.text()[-4000:]}" for p in processes)

    def stop(self) -> None:
        for process in [*self.workers.values(), *self.replicas]:
            process.stop()
