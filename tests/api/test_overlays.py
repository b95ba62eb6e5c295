"""Text on exports over gRPC: burnt timestamps and comments, soft subtitles, on clips and stills."""

from __future__ import annotations

import hashlib
import io
from datetime import timedelta
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from tests.api import options as opts
from tests.api.conftest import ARCHIVE_START, CAMERA, LIVE
from tests.api.harness import RunningServer, download, start_session, wait_completed
from vexport.protos.axxonsoft.bl.mmexport import Export_pb2 as pb
from vexport.protos.axxonsoft.bl.mmexport import ExportService_pb2_grpc as spb_grpc

CLIP_FROM = ARCHIVE_START + timedelta(seconds=2)
CLIP_TO = ARCHIVE_START + timedelta(seconds=4.5)


@pytest.fixture(scope="session")
def archive_playlist(flat_archive_playlist: Path) -> Path:
    """These tests look at drawn pixels: the archive's frames are flat greys."""
    return flat_archive_playlist


@pytest.fixture
def stub(server: RunningServer) -> spb_grpc.ExportServiceStub:
    return server.stub()


def fetch(stub: spb_grpc.ExportServiceStub, options: pb.Options) -> tuple[bytes, str]:
    session_id = start_session(stub, options)
    state = wait_completed(stub, session_id)
    assert state.result.succeeded, state.error
    (file,) = state.result.files
    data, _ = download(stub, session_id, file.path)
    assert hashlib.sha256(data).hexdigest() == file.sha256
    return data, state.processing


def frames(data: bytes) -> list[np.ndarray]:
    with av.open(io.BytesIO(data)) as container:
        return [f.to_ndarray(format="gray") for f in container.decode(video=0)]


def white(region: np.ndarray) -> np.ndarray:
    """Pixels of drawn white text (the archive's own frames are flat mid-grey)."""
    return region > 200


def with_text(options: pb.Options, **setting: object) -> pb.Options:
    options.settings.add(**setting)
    return options


def test_timestamp_burnt_into_archive_clip(stub: spb_grpc.ExportServiceStub) -> None:
    options = opts.archive_clip(CAMERA, CLIP_FROM, CLIP_TO)
    with_text(options, timestamp_format="%H:%M:%S")
    with_text(options, comment="CASE 42")

    data, processing = fetch(stub, options)

    assert processing == "re-encoded: text burnt into the picture"
    video = frames(data)
    assert len(video) == 63  # 2.00 .. 4.48 s at 25 fps
    bottom = [white(f[90:, :160]) for f in video]  # the timestamp's half (bottom-left)
    top = [white(f[:90, :160]) for f in video]  # the comment's (top-left)
    assert all(t.sum() > 20 for t in top) and all(b.sum() > 20 for b in bottom)
    # Frames a second apart show different seconds; the comment stays the same.
    assert (bottom[0] != bottom[25]).sum() > 10
    assert (bottom[25] != bottom[50]).sum() > 10
    assert (top[0] != top[25]).sum() < top[0].sum() / 10  # coding noise only
    # Nothing is drawn elsewhere.
    assert not white(video[0][:, 200:]).any()


def test_soft_subtitles_leave_pixels_untouched(
    stub: spb_grpc.ExportServiceStub, tmp_path: Path
) -> None:
    plain, _ = fetch(stub, opts.archive_clip(CAMERA, CLIP_FROM, CLIP_TO, fmt=pb.StreamType.MKV))
    options = opts.archive_clip(CAMERA, CLIP_FROM, CLIP_TO, fmt=pb.StreamType.MKV)
    with_text(options, timestamp_format="%H:%M:%S")
    with_text(
        options,
        subtitle_cast=pb.SubtitleInfo(
            common_info_mode=pb.SubtitleInfo.SM_SOFT, common_info_pattern="{Timestamp}"
        ),
    )

    data, processing = fetch(stub, options)

    assert processing.startswith("smart cut: ")
    with av.open(io.BytesIO(data)) as container:
        assert container.streams.subtitles[0].codec_context.name in ("subrip", "srt")
        cues = [
            bytes(p).decode() for p in container.demux(container.streams.subtitles[0]) if p.size
        ]
    assert cues[:3] == ["12:00:02", "12:00:03", "12:00:04"]
    assert [f.tobytes() for f in frames(data)] == [f.tobytes() for f in frames(plain)]


def test_snapshot_shows_the_frame_time_and_comment(stub: spb_grpc.ExportServiceStub) -> None:
    at = ARCHIVE_START + timedelta(seconds=3.5)
    plain, _ = fetch(stub, opts.archive_snapshot(CAMERA, at, fmt=pb.SnapshotType.PNG))
    options = opts.archive_snapshot(CAMERA, at, fmt=pb.SnapshotType.PNG)
    with_text(options, comment="CASE 42")
    with_text(options, timestamp_format="%H:%M:%S.%3N")

    drawn, processing = fetch(stub, options)

    assert processing == "pixels drawn on the snapshot"
    original = np.asarray(Image.open(io.BytesIO(plain)).convert("L"))
    image = np.asarray(Image.open(io.BytesIO(drawn)).convert("L"))
    assert image.shape == original.shape
    assert white(image[:90, :160]).sum() > 20 and white(image[90:, :160]).sum() > 20
    assert (image[:, 200:] == original[:, 200:]).all()  # lossless PNG: untouched elsewhere


def test_live_clip_with_timestamp(stub: spb_grpc.ExportServiceStub) -> None:
    options = opts.live_clip(LIVE, 2.2)
    with_text(options, timestamp_format="%H:%M:%S")
    with_text(options, text_place=pb.ViewArea(left=0.0, top=0.0, right=0.5, bottom=0.25))
    # A black box behind the text, so it reads on the busy test picture.
    options.live.sources[0].settings.add(
        text_place_color=pb.ColorInfo(red=0, green=0, blue=0, alpha=1)
    )

    data, processing = fetch(stub, options)

    assert processing == "re-encoded: text burnt into the picture"
    video = frames(data)
    assert len(video) >= 50
    box = [white(f[:45, :160]) for f in video]
    assert all(b.sum() > 10 for b in box)
    assert any((box[0] != b).sum() > 10 for b in box[25:])  # the seconds moved on
