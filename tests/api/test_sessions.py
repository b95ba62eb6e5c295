"""Session lifecycle rules: paging, watchdog, retention, restart survival, both service names."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import timedelta
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from tests.api.conftest import ARCHIVE_START, CAMERA, LIVE, sources
from tests.api.harness import (
    RunningServer,
    download,
    free_port,
    make_settings,
    running_server,
    start_session,
    wait_completed,
)
from tests.api.options import archive_clip, archive_snapshot, live_clip
from vexport.protos.axxonsoft.bl.mmexport import ExportService_pb2 as spb

ROOT = Path(__file__).resolve().parents[2]


def _list_all(stub, page_size: int) -> list[list[str]]:  # type: ignore[no-untyped-def]
    pages: list[list[str]] = []
    token = ""
    while True:
        (reply,) = list(
            stub.ListSessions(spb.ListSessionsRequest(page_token=token, page_size=page_size))
        )
        pages.append([info.session.id for info in reply.sessions])
        token = reply.next_page_token
        if not token:
            return pages


def test_list_sessions_pages_are_complete_newest_first_and_stable(
    tmp_path: Path, archive_playlist: Path
) -> None:
    settings = make_settings(tmp_path, sources=sources(archive_playlist))
    with running_server(settings) as server:
        stub = server.stub()
        ids = [
            start_session(stub, archive_snapshot(CAMERA, ARCHIVE_START + timedelta(seconds=1 + i)))
            for i in range(7)
        ]
        pages = _list_all(stub, 3)
        assert [len(p) for p in pages] == [3, 3, 1]
        assert [s for p in pages for s in p] == list(reversed(ids))

        # A session started between two pages does not shift the next page.
        (first,) = list(stub.ListSessions(spb.ListSessionsRequest(page_size=3)))
        newcomer = start_session(
            stub, archive_snapshot(CAMERA, ARCHIVE_START + timedelta(seconds=2))
        )
        (second,) = list(
            stub.ListSessions(
                spb.ListSessionsRequest(page_size=3, page_token=first.next_page_token)
            )
        )
        listed = [i.session.id for i in first.sessions] + [i.session.id for i in second.sessions]
        assert len(set(listed)) == len(listed) == 6
        assert newcomer not in listed
        # Listing carries the options as sent.
        info = first.sessions[0]
        assert info.session.options.archive.sources[0].origin == CAMERA

        with pytest.raises(grpc.RpcError) as error:
            list(stub.ListSessions(spb.ListSessionsRequest(page_token="garbage!")))
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "page_token" in error.value.details()


def test_watchdog_stops_a_session_nobody_polls(tmp_path: Path, archive_playlist: Path) -> None:
    settings = make_settings(
        tmp_path,
        sources=sources(archive_playlist),
        sessions={"watchdog_live_clip": "1.5s", "timer_interval": "0.2s"},
    )
    with running_server(settings) as server:
        stub = server.stub()
        session_id = start_session(stub, live_clip(LIVE, None))
        time.sleep(6)  # no GetSessionState meanwhile
        state = stub.GetSessionState(
            spb.GetSessionStateRequest(session_id=session_id)
        ).session_state
        assert state.state == spb.S_COMPLETED
        # What was recorded is kept, and the result says nobody asked for the stop.
        assert state.result.files
        assert not state.result.succeeded
        assert state.error.startswith("stopped by the watchdog: no GetSessionState for 0:00:01.5")


def test_retention_removes_files_unless_the_client_keeps_polling(
    tmp_path: Path, archive_playlist: Path
) -> None:
    settings = make_settings(
        tmp_path, sources=sources(archive_playlist), sessions={"retention": "1.5s"}
    )
    with running_server(settings) as server:
        stub = server.stub()
        start = ARCHIVE_START + timedelta(seconds=1)
        kept = start_session(stub, archive_clip(CAMERA, start, start + timedelta(seconds=1)))
        dropped = start_session(stub, archive_clip(CAMERA, start, start + timedelta(seconds=1)))
        wait_completed(stub, kept)
        wait_completed(stub, dropped)
        for _ in range(12):  # 3 s of polling one of them
            stub.GetSessionState(spb.GetSessionStateRequest(session_id=kept))
            time.sleep(0.25)
        kept_state = stub.GetSessionState(spb.GetSessionStateRequest(session_id=kept)).session_state
        dropped_state = stub.GetSessionState(
            spb.GetSessionStateRequest(session_id=dropped)
        ).session_state
        assert kept_state.state == spb.S_COMPLETED
        data, _ = download(stub, kept, kept_state.result.files[0].path)
        assert hashlib.sha256(data).hexdigest() == kept_state.result.files[0].sha256
        assert dropped_state.state == spb.S_REMOVED
        assert not (settings.results_dir / dropped).exists()


def test_health_and_reflection_name_both_services(server: RunningServer) -> None:
    channel = server.channel()
    health = health_pb2_grpc.HealthStub(channel)
    for name in ("", "axxonsoft.bl.mmexport.ExportService", "vexport.v1.ExportService"):
        reply = health.Check(health_pb2.HealthCheckRequest(service=name))
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
    reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
    (reply,) = list(
        reflection.ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")])
        )
    )
    names = {s.name for s in reply.list_services_response.service}
    assert {"axxonsoft.bl.mmexport.ExportService", "vexport.v1.ExportService"} <= names


def test_own_service_name_runs_a_session(server: RunningServer) -> None:
    from vexport.protos.vexport.v1 import export_service_pb2_grpc as own

    stub = own.ExportServiceStub(server.channel())
    start = ARCHIVE_START + timedelta(seconds=2)
    session_id = start_session(stub, archive_snapshot(CAMERA, start))
    state = wait_completed(stub, session_id)  # type: ignore[arg-type]
    assert state.result.succeeded, state.error


def _write_config(path: Path, data_dir: Path, port: int, playlist: Path) -> None:
    path.write_text(
        textwrap.dedent(
            f"""
            [server]
            grpc = "127.0.0.1:{port}"
            http = "127.0.0.1:0"
            data_dir = "{data_dir}"
            shutdown_grace = "1s"

            [sessions]
            timer_interval = "0.2s"

            [[agents]]
            access_point = "hosts/test/MMExportAgent.1"

            [[sources]]
            origin = "{CAMERA}"
              [[sources.archives]]
              storage = "hosts/test/MultimediaStorage.Main/MultimediaStorage"
              url = "{playlist.as_uri()}"

            [[sources]]
            origin = "{LIVE}"
            live = "lavfi:testsrc2=size=320x180:rate=25"
            """
        )
    )


def _serve(config: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "vexport", "serve", "--config", str(config)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _wait_ready(port: int, process: subprocess.Popen[bytes]) -> grpc.Channel:
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        grpc.channel_ready_future(channel).result(timeout=30)
    except grpc.FutureTimeoutError:
        process.kill()
        output = process.stderr.read().decode() if process.stderr else "no output"
        raise AssertionError(output) from None
    return channel


def test_sessions_survive_a_restart(tmp_path: Path, archive_playlist: Path) -> None:
    from vexport.protos.axxonsoft.bl.mmexport import ExportService_pb2_grpc as spb_grpc

    port = free_port()
    config = tmp_path / "vexport.toml"
    _write_config(config, tmp_path / "data", port, archive_playlist)

    process = _serve(config)
    try:
        stub = spb_grpc.ExportServiceStub(_wait_ready(port, process))
        start = ARCHIVE_START + timedelta(seconds=1)
        done = start_session(stub, archive_clip(CAMERA, start, start + timedelta(seconds=2)))
        done_state = wait_completed(stub, done)
        assert done_state.result.succeeded, done_state.error
        running = start_session(stub, live_clip(LIVE, None))
        time.sleep(1.0)
    finally:
        process.send_signal(signal.SIGKILL)  # a crash, not a clean shutdown
        process.wait(10)

    process = _serve(config)
    try:
        stub = spb_grpc.ExportServiceStub(_wait_ready(port, process))
        state = stub.GetSessionState(spb.GetSessionStateRequest(session_id=done)).session_state
        assert state.state == spb.S_COMPLETED and state.result.succeeded
        data, _ = download(stub, done, state.result.files[0].path)
        assert hashlib.sha256(data).hexdigest() == state.result.files[0].sha256
        interrupted = stub.GetSessionState(
            spb.GetSessionStateRequest(session_id=running)
        ).session_state
        assert interrupted.state == spb.S_COMPLETED
        assert not interrupted.result.succeeded
        assert "restart" in interrupted.error
        listed = next(iter(stub.ListSessions(spb.ListSessionsRequest())))
        assert {i.session.id for i in listed.sessions} >= {done, running}
        # SIGTERM shuts down gracefully.
        process.send_signal(signal.SIGTERM)
        assert process.wait(20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


LEGACY_CLIENT = """
import sys, time
sys.path.insert(0, sys.argv[1])
import grpc
from axxonsoft.bl.mmexport import Export_pb2 as pb, ExportService_pb2 as spb
from axxonsoft.bl.mmexport import ExportService_pb2_grpc as g
stub = g.ExportServiceStub(grpc.insecure_channel(sys.argv[2]))
options = pb.Options()
source = options.archive.sources.add(origin=sys.argv[3])
options.archive.start_timestamp = sys.argv[4]
options.archive.end_timestamp = sys.argv[5]
options.stream.format = pb.StreamType.MP4
sid = stub.StartSession(spb.StartSessionRequest(session_options=options)).started_session_id
while True:
    state = stub.GetSessionState(spb.GetSessionStateRequest(session_id=sid)).session_state
    if state.state >= spb.S_COMPLETED:
        break
    time.sleep(0.1)
assert state.result.succeeded
request = spb.DownloadFileRequest(session_id=sid, file_path=state.result.files[0].path)
data = b"".join(c.data for c in stub.DownloadFile(request))
assert len(data) == state.result.files[0].size
stub.DestroySession(spb.DestroySessionRequest(session_id=sid))
print("OK", len(data))
"""


def test_client_of_the_original_protos_runs_a_whole_session(
    server: RunningServer, tmp_path: Path
) -> None:
    """A client generated from protos without vexport's extensions works unchanged."""
    legacy = ROOT / "tests" / "legacy_proto"
    out = tmp_path / "gen"
    out.mkdir()
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", f"-I{legacy}", f"--python_out={out}",
         f"--grpc_python_out={out}", *map(str, legacy.rglob("*.proto"))],
        check=True,
    )  # fmt: skip
    for directory in [out / "axxonsoft", out / "axxonsoft" / "bl", out / "axxonsoft/bl/mmexport"]:
        (directory / "__init__.py").touch()
    start = ARCHIVE_START + timedelta(seconds=2)
    result = subprocess.run(
        [sys.executable, "-c", LEGACY_CLIENT, str(out), server.address, CAMERA,
         start.strftime("%Y%m%dT%H%M%S"), (start + timedelta(seconds=2)).strftime("%Y%m%dT%H%M%S")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("OK")
