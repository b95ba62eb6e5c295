"""Wall-clock times of archive packets, checked frame by frame on real generated archives."""

from __future__ import annotations

import gc
import itertools
import shutil
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.media_fixtures import (
    FPS,
    frame_number,
    frame_time,
    make_dash_archive,
    make_hls_archive,
)
from vexport.media.archive_source import iter_archive_packets, read_ahead, read_segment_packets
from vexport.media.decoding import WallDecoder, codec_of
from vexport.media.packets import TimedPacket
from vexport.sources.archive_index import ArchiveError, ArchiveIndex, Segment, load_archive_index
from vexport.storage import default_reader

T0 = datetime(2025, 6, 1, 8, 0, 0, tzinfo=UTC)
FRAME = 1 / FPS
TOLERANCE = 0.001


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.fixture(scope="module")
def archives(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("archive_source")
    return {
        "hls-ts": make_hls_archive(root / "ts", T0, 8.0, drop_segments={2}),
        "hls-fmp4": make_hls_archive(root / "fmp4", T0, 6.0, fmp4=True),
        "dash-time": make_dash_archive(root / "dash-time", T0, 6.0, template="time"),
        "dash-number": make_dash_archive(root / "dash-number", T0, 6.0, template="number"),
        "long-gop": make_hls_archive(
            root / "gop", T0, 4.0, segment_seconds=1.0, gop_seconds=2.0, audio=False
        ),
    }


def index_of(path: Path) -> ArchiveIndex:
    return load_archive_index(str(path), default_reader())


def packets(path: Path, start: float, end: float) -> list[TimedPacket]:
    result = list(iter_archive_packets(index_of(path), at(start), at(end), default_reader()))
    gc.collect()  # the demuxers are unreferenced now; the packets must still decode
    return result


def decode_video(timed: Iterable[TimedPacket]) -> list[tuple[float, int]]:
    """(wall_pts, frame number mod 32) of every video packet, decoded with one decoder.

    The decoder is given each packet's wall times, so every frame comes out with
    the wall time vexport gave its packet, in presentation order.
    """
    video = [p for p in timed if p.kind == "video"]
    decoded = WallDecoder(*codec_of(video[0])).decode_all(video)
    assert len(decoded) == len(video)  # one frame for each packet
    return [(d.wall, frame_number(d.frame)) for d in decoded]


def assert_covers(numbers: list[int], first: int, last: int) -> None:
    """Frames ``first``..``last`` are all there, and past ``last`` only references.

    The reader gives every packet decoded by the end: with B-frames that includes
    a few frames shown after it, which the frames shown by the end refer to.
    """
    assert numbers[0] == first, numbers[:5]
    assert [n for n in numbers if n <= last] == list(range(first, last + 1))
    assert all(last < n <= last + 4 for n in numbers if n > last), numbers[-6:]


def assert_frames_on_time(decoded: list[tuple[float, int]]) -> list[int]:
    """Each frame's wall time is frame_time(T0, N) (1 ms) and it shows frame N; returns N."""
    numbers = []
    for wall, shown in decoded:
        n = round((wall - T0.timestamp()) * FPS)
        assert abs(wall - frame_time(T0, n).timestamp()) < TOLERANCE, (wall, n)
        assert shown == n % 32, (n, shown)
        numbers.append(n)
    return numbers


@pytest.mark.parametrize("kind", ["hls-ts", "hls-fmp4", "dash-time", "dash-number"])
def test_frames_carry_their_true_wall_time(archives: dict[str, Path], kind: str) -> None:
    start, end = 0.5, 3.3  # across a segment boundary
    timed = packets(archives[kind], start, end)
    walls = [p.wall_dts for p in timed]
    assert walls == sorted(walls)
    assert timed[0].kind == "video" and timed[0].is_keyframe
    numbers = assert_frames_on_time(decode_video(timed))
    # From the keyframe at 0 s, before the requested start, to the frame shown at 3.3 s
    # (frame 82, shown from 3.28 s).
    assert_covers(numbers, 0, 82)
    audio = [p for p in timed if p.kind == "audio"]
    assert audio, "the archive has audio"
    video_end = frame_time(T0, 83).timestamp()
    # Audio from the keyframe's decode time on (the writers trim it to the first frame).
    assert audio[0].wall_pts >= timed[0].wall_dts - TOLERANCE
    assert video_end - 0.05 < audio[-1].wall_pts < video_end
    assert {p.run for p in timed} == {0}


def test_hls_audio_leading_the_video_is_timed_from_the_video_anchor(
    archives: dict[str, Path],
) -> None:
    index = index_of(archives["hls-ts"])
    segment = index.video[1]
    data = (archives["hls-ts"].parent / "seg00001.ts").read_bytes()
    timed = read_segment_packets(segment, data, run=3)
    video = [p for p in timed if p.kind == "video"]
    audio = [p for p in timed if p.kind == "audio"]
    anchor = segment.start.timestamp()
    assert min(p.wall_pts for p in video) == pytest.approx(anchor, abs=1e-6)
    lead = anchor - min(p.wall_pts for p in audio)
    assert 0.018 < lead <= 0.04 + 1e-6  # 40 ms asked, in steps of one AAC frame (21.3 ms)
    assert {p.run for p in timed} == {3}
    assert_frames_on_time(decode_video(timed))


def test_gap_starts_a_new_run_and_nothing_fills_it(archives: dict[str, Path]) -> None:
    timed = packets(archives["hls-ts"], 1.0, 7.5)  # segment 2 (4 s to 6 s) is missing
    numbers = assert_frames_on_time(decode_video(timed))
    assert [n for n in numbers if n < 150] == list(range(0, 100))  # from the keyframe at 0 s
    assert_covers([n for n in numbers if n >= 150], 150, 187)  # the frame shown at 7.5 s
    t0 = T0.timestamp()
    for p in timed:
        offset = p.wall_pts - t0
        assert not (4.0 + TOLERANCE < offset < 5.9), p  # only the next segment's audio lead
        assert p.run == (0 if offset < 5.0 else 1)
    assert [p.wall_dts for p in timed] == sorted(p.wall_dts for p in timed)


def test_segment_without_keyframe_pulls_in_the_previous_one(archives: dict[str, Path]) -> None:
    index = index_of(archives["long-gop"])  # 1 s segments, 2 s GOPs
    assert [s.start for s in index.segments_between(at(1.5), at(2.5))] == [at(1), at(2)]
    timed = packets(archives["long-gop"], 1.5, 2.5)
    numbers = assert_frames_on_time(decode_video(timed))
    assert timed[0].is_keyframe
    assert_covers(numbers, 0, 62)


def test_range_outside_the_archive_yields_nothing(archives: dict[str, Path]) -> None:
    assert packets(archives["dash-time"], 100, 110) == []
    with pytest.raises(ValueError, match="before its start"):
        packets(archives["dash-time"], 3, 2)


def test_single_instant_gives_the_frame_displayed_then(archives: dict[str, Path]) -> None:
    timed = packets(archives["dash-number"], 3.01, 3.01)
    numbers = assert_frames_on_time(decode_video(timed))
    assert_covers(numbers, 50, 75)  # frame 75 is shown from 3.00 s to 3.04 s


@pytest.fixture
def damaged_copy(archives: dict[str, Path], tmp_path: Path) -> Path:
    directory = tmp_path / "copy"
    shutil.copytree(archives["hls-ts"].parent, directory)
    return directory / archives["hls-ts"].name


def test_corrupt_segment_is_a_gap_never_a_silent_hole(
    damaged_copy: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (damaged_copy.parent / "seg00001.ts").write_bytes(b"this is not a video segment\n" * 500)
    holes: list[tuple[float, float]] = []
    timed = list(
        iter_archive_packets(
            index_of(damaged_copy), at(0.5), at(3.5), default_reader(), holes=holes
        )
    )
    assert timed and max(p.wall_pts for p in timed if p.kind == "video") < at(2.0).timestamp()
    assert holes == [(pytest.approx(at(2.0).timestamp(), abs=0.001), at(3.5).timestamp())]
    assert "seg00001.ts" in caplog.text  # the log names the segment


def test_corrupt_first_segment_is_an_archive_error_naming_it(damaged_copy: Path) -> None:
    (damaged_copy.parent / "seg00001.ts").write_bytes(b"this is not a video segment\n" * 500)
    with pytest.raises(ArchiveError, match=r"seg00001\.ts"):
        packets(damaged_copy, 2.5, 3.5)


def test_missing_segment_is_an_archive_error_naming_it(damaged_copy: Path) -> None:
    (damaged_copy.parent / "seg00001.ts").unlink()
    with pytest.raises(ArchiveError, match=r"seg00001\.ts: no such file"):
        packets(damaged_copy, 0.5, 3.5)


def test_packets_are_streamed_segment_by_segment(
    archives: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[str] = []
    reader = default_reader()

    class Counting:
        def read(self, url: str) -> bytes:
            reads.append(url.rsplit("/", 1)[1])
            return reader.read(url)

    index = index_of(archives["hls-ts"])
    stream = iter_archive_packets(index, at(0), at(8), Counting())
    first = list(itertools.islice(stream, 10))
    assert first and "seg00000.ts" in reads
    rest = list(stream)
    assert sorted(reads) == ["seg00000.ts", "seg00001.ts", "seg00003.ts"]
    assert rest


def test_read_ahead_keeps_order_and_a_bounded_window() -> None:
    """Reads run ahead of the demuxer, but never more than the window."""
    started: list[int] = []
    segments = [
        Segment(url=f"s3://b/seg{n}.ts", start=at(n), duration=1.0, track="muxed")
        for n in range(20)
    ]

    class Loader:
        def load(self, segment: Segment) -> bytes:
            started.append(int(segment.url.removeprefix("s3://b/seg").removesuffix(".ts")))
            return segment.url.encode()

    reading = read_ahead(Loader(), segments, window=3)  # type: ignore[arg-type]
    first_segment, first_data = next(reading)
    assert first_segment is segments[0] and first_data == b"s3://b/seg0.ts"
    assert len(started) <= 1 + 3
    rest = list(reading)
    assert [segment for segment, _ in rest] == segments[1:]
    assert all(data == segment.url.encode() for segment, data in rest)
    assert sorted(started) == list(range(20))
