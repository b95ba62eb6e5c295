"""A real ``vexport serve`` process and a client that uses it as a user's program would.

The benchmark measures vexport through its API: a separate server process
(its own interpreter and GIL, as in production) on loopback ports, driven
over gRPC by this process: StartSession, GetSessionState until completed,
DownloadFile of every result file to disk. The HTTP mirror serves the Range
download measurement.

Polling: the client asks for the state every 5 ms at first, the pause
growing by half each time up to ``POLL_SHARE`` (2 %) of the time elapsed
(at least 20 ms, at most 0.5 s), so a 100 ms snapshot is not measured as
200 ms, the end of any export is seen at most about 2 % late, and a long
export is not slowed by the polls themselves (each GetSessionState writes
the session's row: polling every 20 ms took a quarter of the server's main
thread during a 10 s copy).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from sqlalchemy import update

from vexport.config import Settings, load_settings
from vexport.jobs.store import JobStore
from vexport.jobs.tables import FileRow
from vexport.protos.axxonsoft.bl.mmexport import Export_pb2 as pb
from vexport.protos.axxonsoft.bl.mmexport import ExportService_pb2 as spb
from vexport.protos.axxonsoft.bl.mmexport import ExportService_pb2_grpc as spb_grpc
from vexport.results.local import LocalResultStore

__all__ = ["POLL_SHARE", "BenchServer", "Exported", "bench_server", "free_port"]

POLL_FIRST = 0.005
POLL_SHARE = 0.02
_POLL_FLOOR, _POLL_CEILING = 0.02, 0.5
_GRPC_OPTIONS = [("grpc.max_receive_message_length", 8 << 20)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _toml(value: Any) -> str:
    """TOML for the few shapes a config needs (JSON strings are TOML basic strings)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"no TOML for {value!r}")


def write_config(path: Path, sections: dict[str, Any]) -> Path:
    lines = []
    for name, body in sections.items():
        if isinstance(body, list):  # an array of tables
            for entry in body:
                lines.append(f"[[{name}]]")
                lines += [f"{k} = {_toml(v)}" for k, v in entry.items()]
        else:
            lines.append(f"[{name}]")
            lines += [f"{k} = {_toml(v)}" for k, v in body.items()]
        lines.append("")
    path.write_text("\n".join(lines))
    return path


@dataclass
class Exported:
    """One session as the client saw it: its files on disk and the time it all took."""

    session_id: str
    files: list[Path]
    seconds: float
    processing: str = ""
    sizes: list[int] = field(default_factory=list)


class BenchServer:
    """``vexport serve --config FILE`` in a child process, and a client for it."""

    def __init__(
        self, workdir: Path, sources: list[dict[str, Any]], media: dict[str, Any] | None = None
    ) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.grpc_address = f"127.0.0.1:{free_port()}"
        self.http_url = f"http://127.0.0.1:{free_port()}"
        sections: dict[str, Any] = {
            "server": {
                "grpc": self.grpc_address,
                "http": self.http_url.removeprefix("http://"),
                "data_dir": str(workdir / "data"),
                "shutdown_grace": "1s",
            },
            "sessions": {"max_running": 2},
            "sources": sources,
        }
        if media:
            sections["media"] = media
        self.config = write_config(workdir / "vexport.toml", sections)
        self.log_path = workdir / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._channel: grpc.Channel | None = None
        self.stub: spb_grpc.ExportServiceStub | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def settings(self) -> Settings:
        return load_settings(self.config)

    def start(self, timeout: float = 60.0) -> BenchServer:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "vexport", "serve", "--config", str(self.config),
                 "--log-level", "warning"],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )  # fmt: skip
        self._channel = grpc.insecure_channel(self.grpc_address, options=_GRPC_OPTIONS)
        try:
            grpc.channel_ready_future(self._channel).result(timeout=timeout)
        except grpc.FutureTimeoutError:
            self.stop()
            tail = self.log_path.read_text()[-2000:]
            raise RuntimeError(f"vexport serve did not start: {tail}") from None
        self.stub = spb_grpc.ExportServiceStub(self._channel)
        return self

    def stop(self) -> None:
        if self._channel is not None:
            self._channel.close()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    # -- the client ------------------------------------------------------------------

    def export(self, options: pb.Options, out_dir: Path, *, timeout: float = 1800.0) -> Exported:
        """StartSession, poll to completion, download every file; timed from the first call."""
        assert self.stub is not None
        began = time.perf_counter()
        session_id = self.stub.StartSession(
            spb.StartSessionRequest(session_options=options)
        ).started_session_id
        state = self.wait(session_id, timeout)
        if not state.result.succeeded:
            raise RuntimeError(f"session {session_id} failed: {state.error or state}")
        out_dir.mkdir(parents=True, exist_ok=True)
        files = []
        for file in state.result.files:
            target = out_dir / Path(file.path).name
            with open(target, "wb") as handle:
                for chunk in self.stub.DownloadFile(
                    spb.DownloadFileRequest(session_id=session_id, file_path=file.path)
                ):
                    handle.write(chunk.data)
            if not file.mime_type.startswith("application/vnd.vexport."):
                files.append(target)  # the signed manifest is downloaded, not probed
        seconds = time.perf_counter() - began
        return Exported(
            session_id,
            files,
            seconds,
            processing=state.processing,
            sizes=[f.size for f in state.result.files],
        )

    def wait(self, session_id: str, timeout: float) -> spb.State:
        assert self.stub is not None
        began = time.monotonic()
        deadline = began + timeout
        pause = POLL_FIRST
        while True:
            state: spb.State = self.stub.GetSessionState(
                spb.GetSessionStateRequest(session_id=session_id)
            ).session_state
            if state.state >= spb.S_COMPLETED:
                return state
            if time.monotonic() > deadline:
                raise RuntimeError(f"session {session_id} not done after {timeout:.0f} s")
            time.sleep(pause)
            limit = max(_POLL_FLOOR, POLL_SHARE * (time.monotonic() - began))
            pause = min(limit, _POLL_CEILING, pause * 1.5)

    def destroy(self, session_id: str) -> None:
        assert self.stub is not None
        self.stub.DestroySession(spb.DestroySessionRequest(session_id=session_id))

    def grpc_download(self, session_id: str, path: str, chunk_size_kb: int = 0) -> int:
        """DownloadFile of one file, bytes counted and dropped; the byte count."""
        assert self.stub is not None
        total = 0
        request = spb.DownloadFileRequest(
            session_id=session_id, file_path=path, chunk_size_kb=chunk_size_kb
        )
        for chunk in self.stub.DownloadFile(request):
            total += len(chunk.data)
        return total

    def place_file(self, like_session: str, size: int, name: str) -> tuple[str, str, Path]:
        """A completed session holding a ``size``-byte file of random bytes: (id, file id,
        where the result store keeps it).

        Made through the service's own store: the completed session
        ``like_session`` gets its first file replaced, on disk where the
        result store keeps it, by ``size`` random bytes, and the file's row
        says the new size and SHA-256, as if an export had written them.
        (``name`` is kept for the caller's output; the session's file id stays.)
        """
        settings = self.settings()
        store = JobStore(settings.database_url, migrate=False)
        results = LocalResultStore(settings.results_dir)
        try:
            job = store.get(like_session)
            assert job is not None and job.files, "the model session has no file"
            file = job.files[0]
            path = results.path_of(file)
            block = os.urandom(1 << 20)
            digest = hashlib.sha256()
            with open(path, "wb") as handle:
                for index in range(size >> 20):
                    # Vary every block a little so nothing downstream can dedupe it.
                    data = index.to_bytes(8, "little") + block[8:]
                    handle.write(data)
                    digest.update(data)
                tail = block[: size & ((1 << 20) - 1)]
                handle.write(tail)
                digest.update(tail)
            with store.engine.begin() as connection:
                connection.execute(
                    update(FileRow)
                    .where(FileRow.file_id == file.file_id, FileRow.job_seq == job.seq)
                    .values(size=size, sha256=digest.hexdigest())
                )
            return job.id, file.file_id, path
        finally:
            store.close()


@contextmanager
def bench_server(
    workdir: Path, sources: list[dict[str, Any]], media: dict[str, Any] | None = None
) -> Iterator[BenchServer]:
    server = BenchServer(workdir, sources, media).start()
    try:
        yield server
    finally:
        server.stop()
