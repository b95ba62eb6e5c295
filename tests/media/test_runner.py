"""run_export end to end: real HLS/DASH archives, real live inputs, real files."""

from __future__ import annotations

import socket
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.media.conftest import assert_consecutive, decoded
from tests.media_fixtures import frame_time, make_dash_archive, make_hls_archive
from vexport.media.control import SimpleJobControl
from vexport.media.plan import (
    ContainerFormat,
    ExportFailed,
    ExportKind,
    ExportPlan,
    SourcePlan,
)
from vexport.media.probe import probe, video_frame_times
from vexport.media.runner import run_export

START = datetime(2026, 2, 1, 8, 0, 0, tzinfo=UTC)
CAMERA = "hosts/test/DeviceIpint.1/SourceEndpoint.video:0:0"
LIVE = "lavfi:testsrc2=size=320x180:rate=25"


def at(seconds: float) -> datetime:
    return START + timedelta(seconds=seconds)


@pytest.fixture(scope="module")
def hls(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_hls_archive(tmp_path_factory.mktemp("hls"), START, 8.0)


@pytest.fixture(scope="module")
def hls_with_gap(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Segments are 2 s: dropping the third leaves 0-4 s and 6-8 s.
    return make_hls_archive(tmp_path_factory.mktemp("gap"), START, 8.0, drop_segments={2})


@pytest.fixture(scope="module")
def dash(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_dash_archive(tmp_path_factory.mktemp("dash"), START, 6.0)


def archive_plan(
    manifest: Path, kind: ExportKind, container: ContainerFormat, **kw: object
) -> ExportPlan:
    source = SourcePlan(origin=CAMERA, name="cam1", archive_url=manifest.as_uri())
    return ExportPlan(kind=kind, sources=(source,), container=container, **kw)  # type: ignore[arg-type]


def test_archive_clip_mp4_from_hls(hls: Path, tmp_path: Path) -> None:
    control = SimpleJobControl()
    out = tmp_path / "not" / "yet"
    plan = archive_plan(
        hls, ExportKind.ARCHIVE_CLIP, ContainerFormat.MP4, start=at(2.5), end=at(5.0)
    )

    files = run_export(plan, control, workdir=out)

    assert [f.path.name for f in files] == ["export_cam1_001.mp4"]
    produced = files[0]
    assert produced.origin == CAMERA
    assert produced.first_frame == frame_time(START, 62)
    assert produced.last_frame == frame_time(START, 125)
    numbers = [n for _, n in decoded(produced.path)]
    assert len(numbers) == 125 - 62 + 1
    assert numbers[0] == 62 % 32 and numbers[-1] == 125 % 32
    assert_consecutive(numbers)
    info = probe(produced.path)
    assert info.audio is not None and info.audio.codec == "aac"
    assert control.progress == 1.0
    assert control.last_frame is not None


def test_archive_clip_mkv_from_dash(dash: Path, tmp_path: Path) -> None:
    plan = archive_plan(
        dash, ExportKind.ARCHIVE_CLIP, ContainerFormat.MKV, start=at(2.3), end=at(3.7)
    )
    files = run_export(plan, SimpleJobControl(), workdir=tmp_path)
    assert len(files) == 1
    # A smart cut starts on the frame shown at 2.3 s (frame 57), in MKV as in any container,
    # and ends on the one shown at 3.7 s (frame 92).
    assert files[0].first_frame == frame_time(START, 57)
    assert files[0].last_frame == frame_time(START, 92)
    numbers = [n for _, n in decoded(files[0].path)]
    assert numbers[0] == 57 % 32 and len(numbers) == 36
    assert_consecutive(numbers)
    assert files[0].processing.startswith("smart cut: ")


def test_archive_gap_gives_two_files(hls_with_gap: Path, tmp_path: Path) -> None:
    plan = archive_plan(
        hls_with_gap, ExportKind.ARCHIVE_CLIP, ContainerFormat.MP4,
        start=at(1.0), end=at(7.5),
    )  # fmt: skip
    files = run_export(plan, SimpleJobControl(), workdir=tmp_path)
    assert len(files) == 2
    assert (files[0].first_frame, files[0].last_frame) == (
        frame_time(START, 25),
        frame_time(START, 99),
    )
    assert (files[1].first_frame, files[1].last_frame) == (
        frame_time(START, 150),
        frame_time(START, 187),
    )
    assert len(video_frame_times(files[0].path)) == 75
    assert len(video_frame_times(files[1].path)) == 38


def test_archive_clip_outside_the_archive_fails(hls: Path, tmp_path: Path) -> None:
    plan = archive_plan(
        hls, ExportKind.ARCHIVE_CLIP, ContainerFormat.MP4,
        start=at(100), end=at(110),
    )  # fmt: skip
    with pytest.raises(ExportFailed, match=f"no archive for {CAMERA} between 20260201T080140"):
        run_export(plan, SimpleJobControl(), workdir=tmp_path)


def test_missing_manifest_fails_with_a_reason(tmp_path: Path) -> None:
    plan = archive_plan(
        tmp_path / "nope.m3u8", ExportKind.ARCHIVE_CLIP, ContainerFormat.MP4,
        start=at(0), end=at(1),
    )  # fmt: skip
    with pytest.raises(ExportFailed, match="archive of"):
        run_export(plan, SimpleJobControl(), workdir=tmp_path)


def test_archive_snapshot(hls: Path, tmp_path: Path) -> None:
    plan = archive_plan(hls, ExportKind.ARCHIVE_SNAPSHOT, ContainerFormat.PNG, start=at(3.33))
    files = run_export(plan, SimpleJobControl(), workdir=tmp_path)
    assert [f.path.name for f in files] == ["export_cam1.png"]
    assert files[0].first_frame == files[0].last_frame == frame_time(START, 83)
    assert files[0].mime_type == "image/png"


def test_archive_snapshot_in_a_gap_fails(hls_with_gap: Path, tmp_path: Path) -> None:
    plan = archive_plan(
        hls_with_gap, ExportKind.ARCHIVE_SNAPSHOT, ContainerFormat.JPEG, start=at(5.0)
    )
    with pytest.raises(ExportFailed, match=r"no archive for|no frame of"):
        run_export(plan, SimpleJobControl(), workdir=tmp_path)


def live_plan(kind: ExportKind, *urls: str, **kw: object) -> ExportPlan:
    sources = tuple(
        SourcePlan(origin=f"live/{i}", name=f"live{i}", live_url=url) for i, url in enumerate(urls)
    )
    container = ContainerFormat.MP4 if kind.is_clip else ContainerFormat.JPEG
    return ExportPlan(kind=kind, sources=sources, container=container, **kw)  # type: ignore[arg-type]


def test_live_clip_of_two_sources_records_them_together(tmp_path: Path) -> None:
    control = SimpleJobControl()
    plan = live_plan(ExportKind.LIVE_CLIP, LIVE, LIVE, duration_seconds=1.5)
    files = run_export(plan, control, workdir=tmp_path)
    assert sorted(f.path.name for f in files) == ["export_live0_001.mp4", "export_live1_001.mp4"]
    for produced in files:
        span = (produced.last_frame - produced.first_frame).total_seconds()
        assert span == pytest.approx(1.48, abs=1e-3)  # the last frame at or before 1.5 s
    # Same minutes: the two recordings overlap almost entirely.
    assert abs((files[0].first_frame - files[1].first_frame).total_seconds()) < 1.0
    assert control.progress == 1.0


def test_live_clip_until_stopped(tmp_path: Path) -> None:
    control = SimpleJobControl()
    threading.Timer(2.5, control.stop).start()
    files = run_export(live_plan(ExportKind.LIVE_CLIP, LIVE), control, workdir=tmp_path)
    assert len(files) == 1
    assert len(video_frame_times(files[0].path)) >= 10


def test_live_snapshot(tmp_path: Path) -> None:
    files = run_export(
        live_plan(ExportKind.LIVE_SNAPSHOT, LIVE), SimpleJobControl(), workdir=tmp_path
    )
    assert files[0].path.read_bytes()[:3] == b"\xff\xd8\xff"


def test_live_snapshot_without_a_frame_fails(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again before FFmpeg connects: refused
    plan = live_plan(
        ExportKind.LIVE_SNAPSHOT, f"rtsp://u:pw@127.0.0.1:{port}/x",
        snapshot_wait_seconds=1.5,
    )  # fmt: skip
    with pytest.raises(ExportFailed, match=r"no decodable frame from live/0 within 1\.5 s") as exc:
        run_export(plan, SimpleJobControl(), workdir=tmp_path)
    assert "pw" not in str(exc.value)


def test_sources_with_the_same_name_keep_their_own_files(hls: Path, tmp_path: Path) -> None:
    sources = tuple(
        SourcePlan(
            origin=f"hosts/N{i}/SourceEndpoint.video:0:0", name="video", archive_url=hls.as_uri()
        )
        for i in (1, 2)
    )
    plan = ExportPlan(
        kind=ExportKind.ARCHIVE_CLIP, sources=sources, container=ContainerFormat.MKV,
        start=at(1.0), end=at(2.0),
    )  # fmt: skip
    files = run_export(plan, SimpleJobControl(), workdir=tmp_path)
    assert [f.path.name for f in files] == ["export_video_001.mkv", "export_video-2_001.mkv"]
    assert [f.origin for f in files] == [s.origin for s in sources]
    assert all(f.path.exists() for f in files)
