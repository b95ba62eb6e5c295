"""Re-encoded exports over gRPC: the settings reach the media, and the session says why."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path

import pytest

from tests.api import options as opts
from tests.api.conftest import ARCHIVE_START, CAMERA, LIVE
from tests.api.harness import RunningServer, download, start_session, wait_completed
from vexport.media.probe import probe, video_frame_times
from vexport.protos.axxonsoft.bl.mmexport import Export_pb2 as pb
from vexport.protos.axxonsoft.bl.mmexport import ExportService_pb2_grpc as spb_grpc


@pytest.fixture
def stub(server: RunningServer) -> spb_grpc.ExportServiceStub:
    return server.stub()


def fetch(stub: spb_grpc.ExportServiceStub, session_id: str, tmp_path: Path) -> tuple[Path, str]:
    state = wait_completed(stub, session_id)
    assert state.result.succeeded, state.error
    (file,) = state.result.files
    data, _ = download(stub, session_id, file.path)
    assert hashlib.sha256(data).hexdigest() == file.sha256
    path = tmp_path / file.path
    path.write_bytes(data)
    return path, state.processing


def test_archive_clip_h265_half_rate(stub: spb_grpc.ExportServiceStub, tmp_path: Path) -> None:
    options = opts.archive_clip(
        CAMERA,
        ARCHIVE_START + timedelta(seconds=2),
        ARCHIVE_START + timedelta(seconds=5.96),
        fmt=pb.StreamType.MKV,
    )
    options.stream.settings.add().video_codec = pb.StreamSetting.VC_H265
    options.stream.settings.add().frame_frequency = pb.StreamSetting.FF_HALF
    options.stream.settings.add().video_quality = pb.C_SMALL_SIZE

    path, processing = fetch(stub, start_session(stub, options), tmp_path)

    info = probe(path)
    assert info.video is not None and info.video.codec == "hevc"
    assert len(video_frame_times(path)) == 50  # 100 frames, every second one
    assert processing.startswith("re-encoded: video codec h265 asked")
    assert "1/2 of the frame rate" in processing


def test_copy_is_reported(stub: spb_grpc.ExportServiceStub, tmp_path: Path) -> None:
    options = opts.archive_clip(
        CAMERA, ARCHIVE_START + timedelta(seconds=2), ARCHIVE_START + timedelta(seconds=3)
    )
    options.stream.settings.add().video_quality = pb.C_NORMAL

    path, processing = fetch(stub, start_session(stub, options), tmp_path)

    assert processing.startswith("smart cut: ")
    assert probe(path).video is not None


def test_live_clip_reencoded_without_audio(
    stub: spb_grpc.ExportServiceStub, tmp_path: Path
) -> None:
    options = opts.live_clip(LIVE, 2.0, fmt=pb.StreamType.MOV)
    options.stream.settings.add().video_codec = pb.StreamSetting.VC_MPEG4
    options.stream.settings.add().reject_audio = True

    path, processing = fetch(stub, start_session(stub, options), tmp_path)

    info = probe(path)
    assert info.video is not None and info.video.codec == "mpeg4"
    assert info.audio is None
    times = video_frame_times(path)
    assert times[-1] - times[0] == pytest.approx(2.0, abs=0.1)
    assert processing == "re-encoded: video codec mpeg4 asked"
