"""Re-encoded exports, probed: codecs, containers, quality, frame rates, time-lapse, audio."""

from __future__ import annotations

import hashlib
import itertools
import re
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import av
import pytest

from tests.media.conftest import assert_consecutive, decoded, file_packets
from tests.media_fixtures import frame_time, make_dash_archive, make_hls_archive
from vexport.media.control import SimpleJobControl
from vexport.media.ffmpeg import ffmpeg_binary
from vexport.media.plan import ContainerFormat, ExportKind, ExportPlan, ProducedFile, SourcePlan
from vexport.media.probe import probe, video_frame_times
from vexport.media.rendering import (
    AudioCodec,
    AudioEncoding,
    Quality,
    Rendering,
    TimeLapse,
    VideoCodec,
    VideoEncoding,
)
from vexport.media.runner import run_export
from vexport.media.transcode import TranscodeJob, Transcoder

START = datetime(2026, 2, 1, 8, 0, 0, tzinfo=UTC)
CAMERA = "hosts/test/DeviceIpint.1/SourceEndpoint.video:0:0"
# 1.30 s shows frame 32 (at 1.28 s); 5.10 s shows frame 127 (at 5.08 s).
CLIP_START, CLIP_END = 1.3, 5.1
FIRST_FRAME, LAST_FRAME = 32, 127


def at(seconds: float) -> datetime:
    return START + timedelta(seconds=seconds)


@pytest.fixture(scope="module")
def hls(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_hls_archive(tmp_path_factory.mktemp("hls"), START, 8.0)


@pytest.fixture(scope="module")
def hls_with_gap(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_hls_archive(tmp_path_factory.mktemp("gap"), START, 8.0, drop_segments={2})


@pytest.fixture(scope="module")
def dash(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_dash_archive(tmp_path_factory.mktemp("dash"), START, 8.0)


def export(
    manifest: Path,
    out: Path,
    rendering: Rendering,
    container: ContainerFormat = ContainerFormat.MP4,
    *,
    start: float = CLIP_START,
    end: float = CLIP_END,
    max_file_size: int = 0,
) -> list[ProducedFile]:
    source = SourcePlan(origin=CAMERA, name="cam1", archive_url=manifest.as_uri())
    plan = ExportPlan(
        kind=ExportKind.ARCHIVE_CLIP,
        sources=(source,),
        container=container,
        start=at(start),
        end=at(end),
        rendering=rendering,
        max_file_size=max_file_size,
    )
    return run_export(plan, SimpleJobControl(), workdir=out)


def video(codec: VideoCodec, quality: Quality = Quality.NORMAL, divisor: int = 1) -> Rendering:
    return Rendering(video=VideoEncoding(codec=codec, quality=quality, frame_divisor=divisor))


def video_packets_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with av.open(str(path)) as container:
        for packet in container.demux(video=0):
            if packet.size:
                digest.update(bytes(packet))
    return digest.hexdigest()


@pytest.mark.parametrize(
    ("codec", "container", "probed"),
    [
        (VideoCodec.H264, ContainerFormat.MP4, "h264"),
        (VideoCodec.H265, ContainerFormat.MKV, "hevc"),
        (VideoCodec.MJPEG, ContainerFormat.AVI, "mjpeg"),
        (VideoCodec.MPEG4, ContainerFormat.MOV, "mpeg4"),
        (VideoCodec.H264, ContainerFormat.MPEG_TS, "h264"),
    ],
)
def test_codec_and_container(
    hls: Path, tmp_path: Path, codec: VideoCodec, container: ContainerFormat, probed: str
) -> None:
    files = export(hls, tmp_path, video(codec), container)

    assert len(files) == 1
    info = probe(files[0].path)
    assert info.video is not None and info.video.codec == probed
    assert (info.video.width, info.video.height) == (320, 180)
    assert info.audio is not None  # audio re-encoded along (AAC by default)
    # A re-encode is cut exactly: the first frame is the one displayed at the start.
    numbers = [n for _, n in decoded(files[0].path)]
    assert len(numbers) == LAST_FRAME - FIRST_FRAME + 1
    if codec is not VideoCodec.MJPEG:  # full-range JPEG luma does not follow the numbering
        assert numbers[0] == FIRST_FRAME % 32
        assert_consecutive(numbers)
    assert files[0].first_frame == frame_time(START, FIRST_FRAME)
    assert files[0].last_frame == frame_time(START, LAST_FRAME)


@pytest.mark.parametrize(
    ("quality", "crf"),
    [
        (Quality.BEST_QUALITY, 18),
        (Quality.FINE, 20),
        (Quality.GOOD, 22),
        (Quality.NORMAL, 23),
        (Quality.MEDIUM, 23),
        (Quality.SMALL, 26),
        (Quality.TINY, 30),
        (Quality.BEST_SIZE, 34),
    ],
)
def test_h264_quality_levels_map_to_crf(
    hls: Path, tmp_path: Path, quality: Quality, crf: int
) -> None:
    files = export(hls, tmp_path, video(VideoCodec.H264, quality), end=2.5)

    # x264 writes its settings into the stream (an SEI message).
    options = re.search(rb"crf=(\d+\.\d+)", files[0].path.read_bytes())
    assert options is not None and float(options.group(1)) == crf


def test_h265_quality_is_shifted_by_five(hls: Path, tmp_path: Path) -> None:
    files = export(hls, tmp_path, video(VideoCodec.H265, Quality.SMALL), ContainerFormat.MKV)

    options = re.search(rb"crf=(\d+\.\d+)", files[0].path.read_bytes())
    assert options is not None and float(options.group(1)) == 31


@pytest.fixture(scope="module")
def textured(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A detailed picture: on the flat numbered frames every quantiser gives the same size."""
    path = tmp_path_factory.mktemp("textured") / "testsrc2.mp4"
    subprocess.run(
        [ffmpeg_binary(), "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25",
         "-t", "2", "-c:v", "libx264", "-g", "25", str(path)],
        check=True,
    )  # fmt: skip
    return path


@pytest.mark.parametrize("codec", [VideoCodec.MJPEG, VideoCodec.MPEG4, VideoCodec.H264])
def test_quality_levels_order_sizes(textured: Path, tmp_path: Path, codec: VideoCodec) -> None:
    def encoded_bytes(quality: Quality) -> int:
        job = TranscodeJob(rendering=video(codec, quality))
        transcoder = Transcoder(job, ffmpeg=ffmpeg_binary(), workdir=tmp_path)
        return sum(tp.packet.size for tp in transcoder.packets(file_packets(textured)))

    levels = (Quality.BEST_QUALITY, Quality.GOOD, Quality.MEDIUM, Quality.TINY, Quality.BEST_SIZE)
    sizes = [encoded_bytes(quality) for quality in levels]
    assert sizes == sorted(sizes, reverse=True) and len(set(sizes)) == len(sizes)


@pytest.mark.parametrize("divisor", [2, 4, 8])
def test_frame_frequency(hls: Path, tmp_path: Path, divisor: int) -> None:
    files = export(hls, tmp_path, video(VideoCodec.H264, divisor=divisor), start=0.0, end=7.96)

    times = video_frame_times(files[0].path)
    assert len(times) == 200 // divisor
    gaps = {round(b - a, 3) for a, b in itertools.pairwise(times)}
    assert gaps == {round(divisor / 25, 3)}


def test_time_lapse_speed(hls: Path, tmp_path: Path) -> None:
    rendering = Rendering(time_lapse=TimeLapse(speed=4))
    files = export(hls, tmp_path, rendering, start=0.0, end=7.96)

    info = probe(files[0].path)
    frames = video_frame_times(files[0].path)
    assert info.audio is None  # faster than 2x: audio dropped
    assert len(frames) == pytest.approx(200 / 4, abs=2)
    assert frames[-1] - frames[0] == pytest.approx(7.96 / 4, abs=0.1)
    # The result still says when the frames were recorded.
    assert files[0].first_frame == START
    assert files[0].last_frame.timestamp() == pytest.approx(at(7.96).timestamp(), abs=0.2)


def test_time_lapse_double_speed_keeps_audio(hls: Path, tmp_path: Path) -> None:
    files = export(hls, tmp_path, Rendering(time_lapse=TimeLapse(speed=2)), start=0.0, end=4.0)

    info = probe(files[0].path)
    assert info.audio is not None
    assert info.duration == pytest.approx(2.0, abs=0.15)


def test_time_lapse_keyframes_only(hls: Path, tmp_path: Path) -> None:
    # The archive has a keyframe every 2 s: 0, 2, 4, 6.
    files = export(hls, tmp_path, Rendering(time_lapse=TimeLapse(fps=5)), start=0.0, end=7.96)

    frames = video_frame_times(files[0].path)
    assert len(frames) == 4
    assert frames[1] - frames[0] == pytest.approx(0.2, abs=0.01)
    assert [n for _, n in decoded(files[0].path)] == [0, 50 % 32, 100 % 32, 150 % 32]
    assert files[0].first_frame == START
    assert files[0].last_frame == at(6.0)


@pytest.mark.parametrize(
    ("codec", "container", "probed"),
    [
        (AudioCodec.AAC, ContainerFormat.MKV, "aac"),
        (AudioCodec.MP2, ContainerFormat.MKV, "mp2"),
        (AudioCodec.OPUS, ContainerFormat.MKV, "opus"),
        (AudioCodec.G711, ContainerFormat.MOV, "pcm_mulaw"),
    ],
)
def test_audio_codec_with_video_copy(
    hls: Path, tmp_path: Path, codec: AudioCodec, container: ContainerFormat, probed: str
) -> None:
    copied = export(hls, tmp_path / "copy", Rendering(), container)[0]
    files = export(hls, tmp_path / "audio", Rendering(audio=AudioEncoding(codec=codec)), container)

    info = probe(files[0].path)
    assert info.audio is not None and info.audio.codec == probed
    # Only the audio changed: the video is the same stream copy, packet for packet.
    assert video_packets_digest(files[0].path) == video_packets_digest(copied.path)


def test_reject_audio(hls: Path, tmp_path: Path) -> None:
    files = export(hls, tmp_path, Rendering(audio=AudioEncoding(codec=AudioCodec.NONE)))

    info = probe(files[0].path)
    assert info.audio is None
    assert info.video is not None and info.video.codec == "h264"


def test_reencoded_clip_splits_by_size(hls: Path, tmp_path: Path) -> None:
    rendering = video(VideoCodec.H264, Quality.BEST_QUALITY)
    whole = export(hls, tmp_path / "whole", rendering, start=0.0, end=7.96)[0]
    limit = whole.path.stat().st_size // 2 + 1024
    files = export(hls, tmp_path, rendering, start=0.0, end=7.96, max_file_size=limit)

    assert len(files) > 1
    assert all(f.path.stat().st_size <= limit for f in files)
    numbers = [n for f in files for _, n in decoded(f.path)]
    assert len(numbers) == 200
    assert_consecutive(numbers)


def test_reencoded_clip_over_a_gap_makes_two_files(hls_with_gap: Path, tmp_path: Path) -> None:
    files = export(hls_with_gap, tmp_path, video(VideoCodec.H264), start=1.0, end=7.0)

    assert len(files) == 2
    assert files[0].last_frame < at(4.0) <= at(6.0) <= files[1].first_frame
    for file in files:
        info = probe(file.path)
        assert info.video is not None and info.video.codec == "h264"
        assert decoded(file.path)  # each part plays alone, from a keyframe


@pytest.mark.parametrize("container", [ContainerFormat.MP4, ContainerFormat.MPEG_TS])
def test_dash_archive_reencodes_with_its_audio(
    dash: Path, tmp_path: Path, container: ContainerFormat
) -> None:
    """DASH audio segments overlap by a packet; the repeat must not break the encoder feed."""
    files = export(dash, tmp_path, video(VideoCodec.H264), container)
    assert len(files) == 1
    info = probe(files[0].path)
    assert {s.kind for s in info.streams} == {"video", "audio"}
    frames = video_frame_times(files[0].path)
    assert len(frames) == LAST_FRAME - FIRST_FRAME + 1
