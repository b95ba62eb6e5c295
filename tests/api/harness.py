"""A real vexport server on a loopback port, in a thread, for API tests."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc

from vexport.app import App
from vexport.config import Settings, load_settings
from vexport.protos.axxonsoft.bl.mmexport import Export_pb2 as pb
from vexport.protos.axxonsoft.bl.mmexport import ExportService_pb2 as spb
from vexport.protos.axxonsoft.bl.mmexport import ExportService_pb2_grpc as spb_grpc


class RunningServer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.app: App | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, daemon=True)

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # surfaced to the test in start()
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopped = asyncio.Event()
        self.app = App(self.settings)
        await self.app.start()
        self._ready.set()
        await self._stopped.wait()
        await self.app.stop()

    def start(self) -> RunningServer:
        self._thread.start()
        self._ready.wait(30)
        if self._error is not None:
            raise self._error
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stopped is not None:
            self._loop.call_soon_threadsafe(self._stopped.set)
        self._thread.join(60)

    @property
    def address(self) -> str:
        assert self.app is not None
        return self.app.grpc.address

    @property
    def http_url(self) -> str:
        assert self.app is not None
        return self.app.http.url

    def channel(self) -> grpc.Channel:
        return grpc.insecure_channel(
            self.address, options=[("grpc.max_receive_message_length", 8 << 20)]
        )

    def stub(self) -> spb_grpc.ExportServiceStub:
        return spb_grpc.ExportServiceStub(self.channel())


def make_settings(data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "server": {
            "grpc": "127.0.0.1:0",
            "http": "127.0.0.1:0",
            "data_dir": str(data_dir),
            "shutdown_grace": "1s",
        },
        "sessions": {"timer_interval": "0.2s", "snapshot_wait": "10s"},
        "demo": {"enabled": False},
        # Tests of other features see their clips alone; tests/evidence turn manifests on.
        "evidence": {"manifest": False},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(values.get(key), dict):
            values[key].update(value)
        else:
            values[key] = value
    return load_settings(None, **values)


@contextmanager
def running_server(settings: Settings) -> Iterator[RunningServer]:
    server = RunningServer(settings).start()
    try:
        yield server
    finally:
        server.stop()


def free_port() -> int:
    """A loopback port nobody listens on, for servers started as subprocesses."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_session(stub: spb_grpc.ExportServiceStub, options: pb.Options) -> str:
    request = spb.StartSessionRequest(session_options=options)
    return stub.StartSession(request).started_session_id


def wait_completed(
    stub: spb_grpc.ExportServiceStub, session_id: str, timeout: float = 60.0
) -> spb.State:
    """Poll GetSessionState as a client would until the session is no longer active."""
    deadline = time.monotonic() + timeout
    while True:
        state = stub.GetSessionState(spb.GetSessionStateRequest(session_id=session_id))
        if state.session_state.state >= spb.S_COMPLETED:
            return state.session_state
        if time.monotonic() > deadline:
            raise AssertionError(
                f"session {session_id} still {state.session_state} after {timeout}s"
            )
        time.sleep(0.1)


def download(
    stub: spb_grpc.ExportServiceStub,
    session_id: str,
    path: str,
    *,
    chunk_size_kb: int = 0,
    start_from_chunk_index: int = 0,
) -> tuple[bytes, list[int]]:
    """The downloaded bytes and the chunk indexes seen."""
    data = bytearray()
    indexes: list[int] = []
    for chunk in stub.DownloadFile(
        spb.DownloadFileRequest(
            session_id=session_id,
            file_path=path,
            chunk_size_kb=chunk_size_kb,
            start_from_chunk_index=start_from_chunk_index,
        )
    ):
        indexes.append(chunk.index)
        data.extend(chunk.data)
    return bytes(data), indexes
