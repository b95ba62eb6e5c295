"""FFmpeg processes die with the server, and a restart never runs two recorders.

A real ``vexport serve`` with the demo camera (one FFmpeg recording an HLS
playlist) and a running live clip (one FFmpeg reading the live input) is
killed with SIGKILL: both FFmpeg processes must go with it, not stay behind
writing the playlist or holding a camera's connection. A second server on
the same data directory must not start a second recorder, and the restarted
server runs exactly one.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import grpc
import pytest

from tests.api.harness import free_port, start_session
from tests.api.options import live_clip
from vexport.protos.axxonsoft.bl.mmexport import ExportService_pb2 as spb
from vexport.protos.axxonsoft.bl.mmexport import ExportService_pb2_grpc as spb_grpc

LIVE = "hosts/kill/DeviceIpint.1/SourceEndpoint.video:0:0"

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="/proc and PR_SET_PDEATHSIG")


def _config(path: Path, data_dir: Path, grpc_port: int) -> Path:
    path.write_text(
        textwrap.dedent(
            f"""
            [server]
            grpc = "127.0.0.1:{grpc_port}"
            http = "127.0.0.1:{free_port()}"
            data_dir = "{data_dir}"
            shutdown_grace = "1s"

            [sessions]
            timer_interval = "0.2s"

            [demo]
            enabled = true
            segment_seconds = 1

            [[sources]]
            origin = "{LIVE}"
            live = "lavfi:testsrc2=size=320x180:rate=25"
            """
        )
    )
    return path


def _serve(config: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "vexport", "serve", "--config", str(config), "--log-level", "info"],
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, parent pid) of a live process; None once it is gone or a zombie."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    state, ppid = text.rsplit(")", 1)[1].split()[:2]
    return None if state in ("Z", "X") else (state, int(ppid))


def _children(pid: int) -> dict[int, str]:
    """The live child processes of ``pid``, with their command lines."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            info = _stat(int(entry.name))
            if info is not None and info[1] == pid:
                try:
                    found[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
                except OSError:
                    continue
    return {child: cmdline.decode(errors="replace") for child, cmdline in found.items()}


def _recorders(playlist: Path) -> list[int]:
    """Every live process whose command line records into ``playlist``'s folder (FFmpeg
    writes the run's own ``live.m3u8`` there; the server merges it into the archive's)."""
    playlist = playlist.with_name("live.m3u8")
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and _stat(int(entry.name)) is not None:
            try:
                cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if str(playlist).encode() in cmdline:
                pids.append(int(entry.name))
    return pids


def _until(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _ready(port: int, process: subprocess.Popen[bytes]) -> spb_grpc.ExportServiceStub:
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        grpc.channel_ready_future(channel).result(timeout=30)
    except grpc.FutureTimeoutError:
        process.kill()
        raise AssertionError(process.stderr.read().decode() if process.stderr else "") from None
    return spb_grpc.ExportServiceStub(channel)


def test_kill_9_leaves_no_ffmpeg_and_a_restart_runs_one_recorder(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    port = free_port()
    config = _config(tmp_path / "vexport.toml", data_dir, port)
    playlist = data_dir / "demo" / "camera1" / "index.m3u8"
    servers: list[subprocess.Popen[bytes]] = []
    try:
        first = _serve(config)
        servers.append(first)
        stub = _ready(port, first)
        session = start_session(stub, live_clip(LIVE, None))

        def both_running() -> bool:
            commands = _children(first.pid).values()
            return sum("ffmpeg" in c for c in commands) >= 2

        _until(both_running, 30, "the recorder and the live input")
        ffmpegs = [pid for pid, c in _children(first.pid).items() if "ffmpeg" in c]
        assert len(_recorders(playlist)) == 1

        # A second server on the same data directory stops before it touches the recorder.
        second = _serve(config)
        servers.append(second)
        assert second.wait(30) != 0
        assert len(_recorders(playlist)) == 1

        first.send_signal(signal.SIGKILL)  # a crash: no shutdown code runs
        first.wait(10)
        _until(lambda: all(_stat(pid) is None for pid in ffmpegs), 10, "FFmpeg to die")

        restarted = _serve(config)
        servers.append(restarted)
        stub = _ready(port, restarted)
        _until(lambda: len(_recorders(playlist)) == 1, 30, "the new recorder")
        state = stub.GetSessionState(spb.GetSessionStateRequest(session_id=session))
        assert state.session_state.state == spb.S_COMPLETED
        assert not state.session_state.result.succeeded
        live = str(playlist.with_name("live.m3u8"))
        assert _recorders(playlist) == [
            pid for pid, c in _children(restarted.pid).items() if live in c
        ]
        restarted.send_signal(signal.SIGTERM)
        assert restarted.wait(30) == 0
        _until(lambda: _recorders(playlist) == [], 10, "the recorder to stop with the server")
    finally:
        for process in servers:
            if process.poll() is None:
                process.kill()
                process.wait()
