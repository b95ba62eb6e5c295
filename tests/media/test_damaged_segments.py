"""A truncated or corrupt segment inside the range is a gap: a new file, never a silent hole.

The playlist still lists the segment with its full duration, so the index
sees no gap; only its contents show that video is missing. The export must
end the file before the hole and begin a new one after it (as for a gap the
playlist shows), and tell ``holes`` where the video is missing.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest

from tests.media_fixtures import frame_time, make_hls_archive
from vexport.media.archive_source import iter_archive_packets
from vexport.media.control import SimpleJobControl
from vexport.media.plan import ContainerFormat, ExportKind, ExportPlan, SourcePlan
from vexport.media.probe import video_frame_times
from vexport.media.runner import run_export
from vexport.sources.archive_index import load_archive_index
from vexport.storage import default_reader

START = datetime(2026, 2, 1, 8, 0, 0, tzinfo=UTC)
CAMERA = "hosts/test/DeviceIpint.1/SourceEndpoint.video:0:0"
TS_PACKET = 188


def at(seconds: float) -> datetime:
    return START + timedelta(seconds=seconds)


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 s of 2 s segments: frame N at N/25 s; segment 2 holds frames 100..149."""
    return make_hls_archive(tmp_path_factory.mktemp("whole"), START, 12.0)


def _damaged(archive: Path, tmp_path: Path, how: str) -> Path:
    copy = tmp_path / how
    shutil.copytree(archive.parent, copy)
    segment = sorted(copy.glob("*.ts"))[2]
    data = segment.read_bytes()
    if how == "truncated":
        segment.write_bytes(data[: len(data) // 2 // TS_PACKET * TS_PACKET])
    else:
        segment.write_bytes(bytes(len(data)))  # every byte zero: no media at all
    return copy / archive.name


def _plan(playlist: Path, container: ContainerFormat) -> ExportPlan:
    source = SourcePlan(origin=CAMERA, name="cam1", archive_url=playlist.as_uri())
    return ExportPlan(
        kind=ExportKind.ARCHIVE_CLIP,
        sources=(source,),
        container=container,
        start=at(1.0),
        end=at(11.5),
    )


@pytest.mark.parametrize("how", ["truncated", "corrupt"])
@pytest.mark.parametrize("container", [ContainerFormat.MP4, ContainerFormat.MPEG_TS])
def test_a_damaged_segment_starts_a_new_file(
    archive: Path, tmp_path: Path, how: str, container: ContainerFormat
) -> None:
    playlist = _damaged(archive, tmp_path, how)
    files = run_export(_plan(playlist, container), SimpleJobControl(), workdir=tmp_path / "out")
    assert len(files) == 2, [(f.first_frame, f.last_frame) for f in files]
    before, after = files
    assert before.first_frame == frame_time(START, 25)
    # The file before the hole ends inside the damaged segment (or before it) ...
    assert before.last_frame < at(5.5)
    # ... and the next one begins where video is again.
    assert after.first_frame == frame_time(START, 150)
    assert after.last_frame == frame_time(START, 287)
    assert len(video_frame_times(after.path)) == 287 - 150 + 1
    shown = video_frame_times(before.path)
    assert all(b - a < 0.05 for a, b in pairwise(shown))  # no hole inside


def test_the_holes_are_told(archive: Path, tmp_path: Path) -> None:
    playlist = _damaged(archive, tmp_path, "truncated")
    index = load_archive_index(playlist.as_uri(), default_reader())
    holes: list[tuple[float, float]] = []
    packets = list(iter_archive_packets(index, at(1.0), at(11.5), default_reader(), holes=holes))
    assert packets
    assert len(holes) == 1
    begin, end = holes[0]
    assert at(4.0).timestamp() < begin < at(5.5).timestamp()
    assert end == pytest.approx(at(6.0).timestamp(), abs=0.001)
