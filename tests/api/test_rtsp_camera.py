"""A camera configured as cameras are: an rtsp:// URL with credentials, UDP, G.711.

The whole path over real sockets: the TOML-shaped settings, the catalog, gRPC
StartSession, the worker, FFmpeg talking RTSP to GStreamer's server, the
download. The camera's password must not leave the catalog: not in the
session's answers, not in the log, not in the database.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import logging
import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import av
import pytest

from tests.api.harness import (
    RunningServer,
    download,
    make_settings,
    running_server,
    start_session,
    wait_completed,
)
from tests.api.options import live_clip, live_snapshot
from tests.camera_media import CameraFile, encode_camera_file
from tests.framecode import read_frame_number
from tests.rtsp_server import Credentials, Mount, RtspServer, gstreamer_missing
from vexport.protos.axxonsoft.bl.mmexport import Export_pb2 as pb
from vexport.protos.axxonsoft.bl.mmexport import ExportService_pb2 as spb

pytestmark = pytest.mark.skipif(
    gstreamer_missing() is not None,
    reason=f"GStreamer's RTSP server is not installed ({gstreamer_missing()}); `make test` "
    "installs it when run as root",
)

CAMERA = "hosts/site/DeviceIpint.7/SourceEndpoint.video:0:0"
SILENT = "hosts/site/DeviceIpint.8/SourceEndpoint.video:0:0"
SECRET = Credentials("viewer", "Cam-pa55")


@pytest.fixture(scope="module")
def camera(tmp_path_factory: pytest.TempPathFactory) -> CameraFile:
    directory = tmp_path_factory.mktemp("camera")
    return encode_camera_file(directory / "cam.mov", video="h264", audio="pcmu", seconds=5)


@pytest.fixture(scope="module")
def silent_port() -> Iterator[int]:
    """A "camera" that accepts the connection and never answers."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield int(server.getsockname()[1])


@pytest.fixture(scope="module")
def rtsp(camera: CameraFile) -> Iterator[RtspServer]:
    # UDP only: a session that went over TCP would be refused, so success proves the
    # source's rtsp_transport reached FFmpeg.
    mounts = [Mount("/stream1", camera.path, camera.video, camera.audio, ("udp",))]
    with RtspServer(mounts, credentials=SECRET) as server:
        yield server


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, rtsp: RtspServer, silent_port: int
) -> Iterator[RunningServer]:
    settings = make_settings(
        tmp_path_factory.mktemp("vexport"),
        sessions={"timer_interval": "0.2s", "live_connect_timeout": "2s"},
        sources=[
            {
                "origin": CAMERA,
                "live": rtsp.url("/stream1", credentials=SECRET),
                "rtsp_transport": "udp",
            },
            {"origin": SILENT, "live": f"rtsp://{SECRET.user}:{SECRET.password}@127.0.0.1:"
                                      f"{silent_port}/stream1"},
        ],
    )  # fmt: skip
    with running_server(settings) as running:
        yield running


def _numbers(data: bytes) -> list[int | None]:
    with av.open(io.BytesIO(data)) as container:
        return [read_frame_number(frame) for frame in container.decode(video=0)]


def _no_secret(text: str) -> None:
    assert SECRET.password not in text and SECRET.user not in text, text


def _stored(server: RunningServer) -> str:
    """Every row of every table of the server's database, as text."""
    database = server.settings.server.data_dir / "vexport.db"
    with contextlib.closing(sqlite3.connect(database)) as connection:
        tables = [
            row[0]
            for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        ]
        rows = [
            connection.execute(f'SELECT * FROM "{table}"').fetchall()
            for table in tables
            if not table.startswith("sqlite_")
        ]
    assert any(rows)
    return str(rows)


def test_live_clip_from_an_rtsp_camera(
    server: RunningServer, rtsp: RtspServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    stub = server.stub()
    session_id = start_session(stub, live_clip(CAMERA, 2.0, pb.StreamType.MP4))
    state = wait_completed(stub, session_id, timeout=30)
    assert state.result.succeeded, state.error
    (file,) = state.result.files
    data, _ = download(stub, session_id, file.path)
    numbers = _numbers(data)
    assert numbers[0] == 0 and len(numbers) == 51  # 2 s at 25 fps, both ends
    assert all(b == a + 1 for a, b in itertools.pairwise(numbers)), numbers  # type: ignore[operator]
    with av.open(io.BytesIO(data)) as container:
        assert container.streams.audio[0].codec_context.name == "aac"  # G.711 cannot be in MP4
    assert rtsp.wait_event("SETUP /stream1 RTP/AVP/UDP;unicast")  # UDP, as configured

    listed = list(stub.ListSessions(spb.ListSessionsRequest()))
    _no_secret(str(listed) + str(state))
    _no_secret("\n".join(record.getMessage() for record in caplog.records))
    _no_secret(_stored(server))


def test_live_snapshot_from_an_rtsp_camera(server: RunningServer) -> None:
    stub = server.stub()
    session_id = start_session(stub, live_snapshot(CAMERA, pb.SnapshotType.PNG))
    state = wait_completed(stub, session_id, timeout=30)
    assert state.result.succeeded, state.error
    (file,) = state.result.files
    data, _ = download(stub, session_id, file.path)
    with av.open(io.BytesIO(data)) as container:
        assert read_frame_number(next(container.decode(video=0))) is not None


def test_silent_camera_fails_the_session_in_the_configured_time(
    server: RunningServer, silent_port: int
) -> None:
    stub = server.stub()
    session_id = start_session(stub, live_clip(SILENT, 2.0))
    state = wait_completed(stub, session_id, timeout=10)
    assert not state.result.succeeded
    expected = f"no video from live input rtsp://127.0.0.1:{silent_port}/stream1 within 2 s"
    assert state.error == f"{expected}: nothing was received"
    _no_secret(state.error)
    _no_secret(_stored(server))


def test_the_stored_plan_has_no_credentials(tmp_path: Path, rtsp: RtspServer) -> None:
    from vexport.media.plan import SourcePlan

    plan = SourcePlan(origin=CAMERA, name="cam", live_url=rtsp.url("/s", credentials=SECRET))
    stored = plan.to_json()
    assert stored["live_url"] == rtsp.url("/s")
    _no_secret(str(stored))
