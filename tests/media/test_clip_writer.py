"""Stream-copy clips: exact coverage, true timing, size-limited parts, gaps, stops."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from pathlib import Path

import pytest

from tests.media.conftest import (
    FRAME,
    T0,
    assert_consecutive,
    decoded,
    file_packets,
    frame_wall,
)
from vexport.media.clip_writer import ClipRequest, write_clip
from vexport.media.control import SimpleJobControl
from vexport.media.packets import TimedPacket
from vexport.media.plan import ContainerFormat, ProducedFile
from vexport.media.probe import probe, video_frame_times
from vexport.media.smart_cut import SmartCutter

FORMAT_NAMES = {
    ContainerFormat.MP4: "mp4",
    ContainerFormat.MOV: "mov",
    ContainerFormat.MKV: "matroska",
    ContainerFormat.MPEG_TS: "mpegts",
    ContainerFormat.AVI: "avi",
}


def clip(
    source: Path,
    out: Path,
    container: ContainerFormat,
    start: float,
    end: float,
    *,
    smart: bool = True,
    **kwargs: object,
) -> list[ProducedFile]:
    """A clip as archive exports make it: smart cut (default) or a plain copy."""
    packets: Iterable[TimedPacket] = file_packets(source)
    if smart:
        packets = SmartCutter(start, end).packets(packets)
    return write_clip(
        packets,
        ClipRequest(start=start, end=end),
        origin="cam",
        container=container,
        output_dir=out,
        file_prefix="clip_cam",
        edit_list=not smart,
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("container", list(FORMAT_NAMES))
def test_clip_covers_request_with_true_timing(
    numbered_ts: Path, tmp_path: Path, container: ContainerFormat
) -> None:
    # 2.5 s falls between frames 62 and 63: frame 62 is displayed then. 4.0 s is frame 100.
    files = clip(numbered_ts, tmp_path, container, T0 + 2.5, T0 + 4.0)

    assert len(files) == 1
    produced = files[0]
    assert produced.path.name == f"clip_cam_001.{container.value}"
    assert produced.mime_type == container.mime_type
    info = probe(produced.path)
    assert FORMAT_NAMES[container] in info.format_name.split(",")
    assert info.video is not None and info.video.codec == "h264"
    assert (info.video.width, info.video.height) == (320, 180)
    assert info.audio is not None and info.audio.codec == "aac"

    frames = decoded(produced.path)
    numbers = [n for _, n in frames]
    assert_consecutive(numbers)
    first = 62  # the frame shown at the start, in every container (a smart cut)
    assert numbers[0] == first % 32
    assert numbers[-1] == 100 % 32
    assert len(frames) == 100 - first + 1
    assert produced.first_frame.timestamp() == pytest.approx(frame_wall(first), abs=1e-3)
    assert produced.last_frame.timestamp() == pytest.approx(frame_wall(100), abs=1e-3)
    assert produced.frames_copied + produced.frames_reencoded == len(frames)
    assert produced.frames_reencoded < 20  # up to the keyframe at 3 s (75), and the tail
    # Timing inside the file is true: frame k is shown k frames after the first. (AVI keeps
    # no presentation times: with B-frames a player shows the decoder's frames, in the
    # right order as checked above, at the stream's frame rate.)
    times = [t for t, _ in frames]
    for k, t in enumerate(times):
        if container is not ContainerFormat.AVI:
            assert t - times[0] == pytest.approx(k * FRAME, abs=1e-3)
    assert video_frame_times(produced.path)[0] == pytest.approx(times[0], abs=1e-6)


@pytest.mark.parametrize("container", list(FORMAT_NAMES))
def test_plain_copy_starts_at_the_keyframe_or_hides_it_with_an_edit_list(
    numbered_ts: Path, tmp_path: Path, container: ContainerFormat
) -> None:
    files = clip(numbered_ts, tmp_path, container, T0 + 2.5, T0 + 4.0, smart=False)
    frames = decoded(files[0].path)
    numbers = [n for _, n in frames]
    assert_consecutive(numbers)
    edit_list = container in (ContainerFormat.MP4, ContainerFormat.MOV)
    first = 62 if edit_list else 50  # MP4/MOV hide the frames before the start
    assert numbers[0] == first % 32
    assert files[0].first_frame.timestamp() == pytest.approx(frame_wall(first), abs=1e-3)
    # A copy ends after the frame shown at the end and the references it needs (B-frames).
    assert 100 <= first + len(numbers) - 1 <= 103
    assert files[0].frames_reencoded == 0
    if edit_list:
        assert frames[0][0] == pytest.approx(0.0, abs=1e-6)


def test_clip_on_keyframe_and_frame_boundaries(numbered_ts: Path, tmp_path: Path) -> None:
    files = clip(numbered_ts, tmp_path, ContainerFormat.MP4, frame_wall(75), frame_wall(76))
    numbers = [n for _, n in decoded(files[0].path)]
    assert numbers == [75 % 32, 76 % 32]
    assert files[0].first_frame.timestamp() == pytest.approx(frame_wall(75), abs=1e-3)


def test_request_beyond_the_source_is_clipped_to_what_exists(
    numbered_ts: Path, tmp_path: Path
) -> None:
    files = clip(numbered_ts, tmp_path, ContainerFormat.MKV, T0 - 5, T0 + 100)
    assert len(files) == 1
    frames = decoded(files[0].path)
    assert len(frames) == 200
    assert files[0].first_frame.timestamp() == pytest.approx(T0, abs=1e-3)
    assert files[0].last_frame.timestamp() == pytest.approx(frame_wall(199), abs=1e-3)


@pytest.mark.parametrize(
    "container",
    [ContainerFormat.MP4, ContainerFormat.MKV, ContainerFormat.MPEG_TS, ContainerFormat.AVI],
)
def test_max_file_size_splits_into_contiguous_playable_parts(
    numbered_ts: Path, tmp_path: Path, container: ContainerFormat
) -> None:
    whole = clip(numbered_ts, tmp_path / "whole", container, T0 + 0.5, T0 + 7.5)[0]
    limit = whole.path.stat().st_size // 3

    parts = clip(
        numbered_ts, tmp_path / "parts", container, T0 + 0.5, T0 + 7.5, max_file_size=limit
    )

    assert len(parts) >= 3
    assert [p.path.name for p in parts] == [
        f"clip_cam_{i:03d}.{container.value}" for i in range(1, len(parts) + 1)
    ]
    all_numbers: list[int] = []
    for index, part in enumerate(parts):
        assert part.path.stat().st_size <= limit, (part.path.name, part.path.stat().st_size)
        frames = decoded(part.path)  # each part decodes alone, from its own keyframe
        all_numbers += [n for _, n in frames]
        span = part.last_frame.timestamp() - part.first_frame.timestamp()
        assert len(frames) == round(span / FRAME) + 1
        if index:
            gap = part.first_frame.timestamp() - parts[index - 1].last_frame.timestamp()
            assert gap == pytest.approx(FRAME, abs=1e-3)  # nothing lost, nothing repeated
    assert_consecutive(all_numbers)
    assert len(all_numbers) == 187 - 12 + 1  # frames 12 (0.5 s) to 187 (7.5 s)
    assert parts[-1].last_frame.timestamp() == pytest.approx(frame_wall(187), abs=1e-3)


def test_one_gop_larger_than_the_limit_gets_its_own_part(numbered_ts: Path, tmp_path: Path) -> None:
    parts = clip(numbered_ts, tmp_path, ContainerFormat.MKV, T0, T0 + 2.96, max_file_size=100)
    assert len(parts) == 3  # one per GOP, each over the limit: nothing can be smaller
    assert_consecutive([n for p in parts for _, n in decoded(p.path)])


def test_run_change_starts_a_new_file_and_results_show_the_gap(
    numbered_ts: Path, tmp_path: Path
) -> None:
    # Frames 0..99 (4 s), then the camera was off for 3 s, then frames again from 7 s.
    before = itertools.takewhile(
        lambda tp: not (tp.is_keyframe and tp.wall_pts >= frame_wall(100) - 1e-6),
        file_packets(numbered_ts),
    )  # the GOPs of frames 0..99
    after = file_packets(numbered_ts, anchor=T0 + 7.0, run=1)

    files = write_clip(
        SmartCutter(T0 + 1.0, T0 + 9.0).packets(itertools.chain(before, after)),
        ClipRequest(start=T0 + 1.0, end=T0 + 9.0),
        origin="cam",
        container=ContainerFormat.MP4,
        output_dir=tmp_path,
        file_prefix="gap",
    )

    assert len(files) == 2
    assert files[0].first_frame.timestamp() == pytest.approx(frame_wall(25), abs=1e-3)
    assert files[0].last_frame.timestamp() == pytest.approx(frame_wall(99), abs=1e-3)
    assert files[1].first_frame.timestamp() == pytest.approx(T0 + 7.0, abs=1e-3)
    assert files[1].last_frame.timestamp() == pytest.approx(T0 + 9.0, abs=1e-3)
    assert len(decoded(files[0].path)) == 75
    assert len(decoded(files[1].path)) == 51


def test_stop_request_finishes_the_current_file(numbered_ts: Path, tmp_path: Path) -> None:
    control = SimpleJobControl()

    def stopping() -> object:
        for tp in file_packets(numbered_ts):
            if tp.wall_dts > frame_wall(80):
                control.stop()
            yield tp

    files = write_clip(
        stopping(),  # type: ignore[arg-type]
        ClipRequest(start=T0, end=T0 + 7.0),
        origin="cam",
        container=ContainerFormat.MP4,
        output_dir=tmp_path,
        file_prefix="stopped",
        control=control,
    )

    assert len(files) == 1
    frames = decoded(files[0].path)
    assert 75 <= len(frames) <= 84  # packets decoded by frame 80's time, and their frames
    assert_consecutive([n for _, n in frames])
    assert 0.35 < control.progress < 0.55  # by wall time covered: ~3.2 s of 7 s
    assert control.last_frame == files[0].last_frame
