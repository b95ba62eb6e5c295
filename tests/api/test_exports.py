"""The four export kinds end to end: gRPC over loopback, real FFmpeg, probed outputs."""

from __future__ import annotations

import hashlib
import io
import itertools
from datetime import timedelta
from pathlib import Path

import av
import grpc
import pytest

from tests.api.conftest import ARCHIVE_START, CAMERA, CAMERA2, FPS, LIVE
from tests.api.harness import RunningServer, download, start_session, wait_completed
from tests.api.options import archive_clip, archive_snapshot, live_clip, live_snapshot
from tests.media_fixtures import frame_number
from vexport.protos.axxonsoft.bl.mmexport import Export_pb2 as pb
from vexport.protos.axxonsoft.bl.mmexport import ExportService_pb2 as spb
from vexport.timeutil import parse_timestamp

FRAME = 1 / FPS


def _decoded(data: bytes) -> list[tuple[float, int]]:
    """(presentation time, luma-coded frame number) of every frame a player shows."""
    frames = []
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            frames.append((float(frame.time), frame_number(frame)))
    return frames


def _expected_number(moment_offset: float) -> int:
    return round(moment_offset * FPS) % 32


@pytest.mark.parametrize(
    ("fmt", "container_name", "mime"),
    [
        (pb.StreamType.MP4, "mp4", "video/mp4"),
        (pb.StreamType.MKV, "matroska", "video/x-matroska"),
        (pb.StreamType.MPEG_TS, "mpegts", "video/mp2t"),
        (pb.StreamType.AVI, "avi", "video/x-msvideo"),
        (pb.StreamType.MOV, "mov", "video/quicktime"),
    ],
)
def test_archive_clip_covers_request_and_downloads_intact(
    server: RunningServer, fmt: int, container_name: str, mime: str
) -> None:
    stub = server.stub()
    start = ARCHIVE_START + timedelta(seconds=3.3)
    end = ARCHIVE_START + timedelta(seconds=6.1)
    session_id = start_session(stub, archive_clip(CAMERA, start, end, fmt))
    state = wait_completed(stub, session_id)
    assert state.result.succeeded, state.error
    assert state.state == spb.S_COMPLETED
    assert len(state.result.files) == 1
    file = state.result.files[0]
    assert file.mime_type == mime

    data, indexes = download(stub, session_id, file.path)
    assert len(data) == file.size
    assert hashlib.sha256(data).hexdigest() == file.sha256
    assert indexes == list(range(len(indexes)))

    with av.open(io.BytesIO(data)) as container:
        assert container_name in container.format.name
        assert container.streams.video[0].codec_context.name == "h264"

    first = parse_timestamp(file.min_timestamp)
    last = parse_timestamp(file.max_timestamp)
    # The clip covers the request, within a frame.
    assert first <= start + timedelta(seconds=FRAME / 2)
    assert last >= end - timedelta(seconds=FRAME * 1.5)
    frames = _decoded(data)
    # The first and last frames shown are the ones the result names.
    first_offset = (first - ARCHIVE_START).total_seconds()
    last_offset = (last - ARCHIVE_START).total_seconds()
    assert frames[0][1] == _expected_number(first_offset)
    assert frames[-1][1] == _expected_number(last_offset)
    assert frames[-1][0] - frames[0][0] == pytest.approx(last_offset - first_offset, abs=FRAME)


def test_mp4_clip_starts_at_requested_frame(server: RunningServer) -> None:
    stub = server.stub()
    start = ARCHIVE_START + timedelta(seconds=4.52)  # mid-GOP, on frame 113
    end = ARCHIVE_START + timedelta(seconds=5.5)
    session_id = start_session(stub, archive_clip(CAMERA, start, end))
    state = wait_completed(stub, session_id)
    assert state.result.succeeded, state.error
    file = state.result.files[0]
    data, _ = download(stub, session_id, file.path)
    frames = _decoded(data)
    assert frames[0][1] == _expected_number(4.52)
    assert parse_timestamp(file.min_timestamp) == pytest.approx(start, abs=timedelta(seconds=FRAME))


def test_resumed_download_returns_the_rest_of_the_file(server: RunningServer) -> None:
    stub = server.stub()
    session_id = start_session(
        stub,
        archive_clip(
            CAMERA, ARCHIVE_START + timedelta(seconds=1), ARCHIVE_START + timedelta(seconds=5)
        ),
    )
    state = wait_completed(stub, session_id)
    file = state.result.files[0]
    whole, _ = download(stub, session_id, file.path, chunk_size_kb=4)
    assert hashlib.sha256(whole).hexdigest() == file.sha256
    rest, indexes = download(stub, session_id, file.path, chunk_size_kb=4, start_from_chunk_index=3)
    assert indexes[0] == 3
    assert rest == whole[3 * 4096 :]
    # A huge chunk size is clamped below gRPC's 4 MB limit instead of failing.
    big, _ = download(stub, session_id, file.path, chunk_size_kb=64 * 1024)
    assert big == whole


def test_max_file_size_splits_into_contiguous_playable_parts(server: RunningServer) -> None:
    stub = server.stub()
    start = ARCHIVE_START + timedelta(seconds=0.5)
    end = ARCHIVE_START + timedelta(seconds=10.5)
    limit = 48 * 1024
    session_id = start_session(stub, archive_clip(CAMERA, start, end, max_file_size=limit))
    state = wait_completed(stub, session_id)
    assert state.result.succeeded, state.error
    files = state.result.files
    assert len(files) >= 2
    numbers: list[int] = []
    previous_last = None
    for file in files:
        assert file.size <= limit
        data, _ = download(stub, session_id, file.path)
        assert hashlib.sha256(data).hexdigest() == file.sha256
        frames = _decoded(data)  # each part plays alone
        assert frames
        numbers.extend(number for _, number in frames)
        first = parse_timestamp(file.min_timestamp)
        if previous_last is not None:
            gap = (first - previous_last).total_seconds()
            assert gap == pytest.approx(FRAME, abs=0.002)  # contiguous, nothing repeated
        previous_last = parse_timestamp(file.max_timestamp)
    # Frame numbers run on across parts without loss or repetition.
    assert all((b - a) % 32 == 1 for a, b in itertools.pairwise(numbers))


def test_each_source_gets_its_own_files(server: RunningServer) -> None:
    stub = server.stub()
    start = ARCHIVE_START + timedelta(seconds=2)
    session_id = start_session(
        stub, archive_clip([CAMERA, CAMERA2], start, start + timedelta(seconds=2))
    )
    state = wait_completed(stub, session_id)
    assert state.result.succeeded, state.error
    assert len(state.result.files) == 2
    assert len({f.path for f in state.result.files}) == 2


@pytest.mark.parametrize(
    ("fmt", "codec"), [(pb.SnapshotType.JPEG, "mjpeg"), (pb.SnapshotType.PNG, "png")]
)
def test_archive_snapshot_is_the_frame_at_the_requested_time(
    server: RunningServer, fmt: int, codec: str
) -> None:
    stub = server.stub()
    offset = 7.24  # frame 181
    session_id = start_session(
        stub, archive_snapshot(CAMERA, ARCHIVE_START + timedelta(seconds=offset), fmt)
    )
    state = wait_completed(stub, session_id)
    assert state.result.succeeded, state.error
    (file,) = state.result.files
    data, _ = download(stub, session_id, file.path)
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == codec
        frame = next(container.decode(stream))
        assert (frame.width, frame.height) == (320, 180)
        number = frame_number(frame)
    assert number == _expected_number(offset)
    shown = parse_timestamp(file.min_timestamp)
    assert abs((shown - ARCHIVE_START).total_seconds() - offset) < FRAME


def test_archive_clip_outside_the_archive_fails_with_reason(server: RunningServer) -> None:
    stub = server.stub()
    start = ARCHIVE_START - timedelta(hours=1)
    session_id = start_session(stub, archive_clip(CAMERA, start, start + timedelta(seconds=5)))
    state = wait_completed(stub, session_id)
    assert state.state == spb.S_COMPLETED
    assert not state.result.succeeded
    assert "no archive" in state.error.lower() or "no video" in state.error.lower()


def test_live_clip_for_a_duration(server: RunningServer, tmp_path: Path) -> None:
    stub = server.stub()
    session_id = start_session(stub, live_clip(LIVE, 2.0, pb.StreamType.MKV))
    state = wait_completed(stub, session_id, timeout=30)
    assert state.result.succeeded, state.error
    (file,) = state.result.files
    data, _ = download(stub, session_id, file.path)
    with av.open(io.BytesIO(data)) as container:
        assert container.streams.video[0].codec_context.name == "h264"
        duration = float(container.duration or 0) / av.time_base
    span = (
        parse_timestamp(file.max_timestamp) - parse_timestamp(file.min_timestamp)
    ).total_seconds()
    assert 1.8 <= span <= 2.3
    assert duration == pytest.approx(span + FRAME, abs=0.15)


def test_live_clip_until_stopped(server: RunningServer) -> None:
    import time

    stub = server.stub()
    session_id = start_session(stub, live_clip(LIVE, None))
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        state = stub.GetSessionState(spb.GetSessionStateRequest(session_id=session_id))
        if state.session_state.state == spb.S_RUNNING and state.session_state.last_frame_timestamp:
            break
        time.sleep(0.2)
    time.sleep(1.5)
    stopped = stub.StopSession(spb.StopSessionRequest(session_id=session_id)).session_state
    assert stopped.state == spb.S_COMPLETED
    assert stopped.result.succeeded, stopped.error
    (file,) = stopped.result.files
    data, _ = download(stub, session_id, file.path)
    frames = _decoded(data)
    assert len(frames) >= FPS  # at least a second of video made it into a playable file


def test_live_snapshot_is_a_decodable_frame(server: RunningServer) -> None:
    stub = server.stub()
    session_id = start_session(stub, live_snapshot(LIVE, pb.SnapshotType.PNG))
    state = wait_completed(stub, session_id, timeout=30)
    assert state.result.succeeded, state.error
    (file,) = state.result.files
    data, _ = download(stub, session_id, file.path)
    with av.open(io.BytesIO(data)) as container:
        frame = next(container.decode(video=0))
        assert (frame.width, frame.height) == (320, 180)


def test_destroy_deletes_files_and_answers_removed(server: RunningServer) -> None:
    stub = server.stub()
    start = ARCHIVE_START + timedelta(seconds=1)
    session_id = start_session(stub, archive_clip(CAMERA, start, start + timedelta(seconds=1)))
    state = wait_completed(stub, session_id)
    path = state.result.files[0].path
    stub.DestroySession(spb.DestroySessionRequest(session_id=session_id))
    after = stub.GetSessionState(spb.GetSessionStateRequest(session_id=session_id)).session_state
    assert after.state == spb.S_REMOVED
    assert not list((server.settings.results_dir / session_id).glob("*"))
    with pytest.raises(grpc.RpcError) as error:
        download(stub, session_id, path)
    assert error.value.code() == grpc.StatusCode.NOT_FOUND
