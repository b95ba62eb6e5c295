"""Archive snapshots: the frame displayed at the instant, as JPEG or PNG."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from pathlib import Path

import av
import pytest
from PIL import Image

from tests.media.conftest import FRAME, T0, file_packets, frame_wall
from tests.media_fixtures import frame_number
from vexport.media.plan import ContainerFormat, ExportFailed
from vexport.media.snapshot import archive_snapshot


def image_frame_number(path: Path) -> int:
    """The frame number drawn into a snapshot image (mod 32)."""
    with av.open(str(path)) as container:
        return frame_number(next(container.decode(video=0)))


@pytest.mark.parametrize(
    ("container", "fmt"), [(ContainerFormat.JPEG, "JPEG"), (ContainerFormat.PNG, "PNG")]
)
@pytest.mark.parametrize("offset", [0.0, 0.5 * FRAME, 0.99 * FRAME])
def test_snapshot_is_the_frame_displayed_at_the_instant(
    numbered_ts: Path, tmp_path: Path, container: ContainerFormat, fmt: str, offset: float
) -> None:
    at = datetime.fromtimestamp(frame_wall(87) + offset, tz=UTC)  # mid-GOP: frame 87
    path = tmp_path / f"snap.{container.value}"

    produced = archive_snapshot(
        file_packets(numbered_ts), at, origin="cam", container=container, path=path
    )

    assert produced.path == path
    assert produced.first_frame == produced.last_frame
    assert produced.first_frame.timestamp() == pytest.approx(frame_wall(87), abs=1e-3)
    assert produced.mime_type == container.mime_type
    with Image.open(path) as image:
        assert image.format == fmt
        assert image.size == (320, 180)
    assert image_frame_number(path) == 87 % 32


def test_snapshot_at_a_keyframe(numbered_ts: Path, tmp_path: Path) -> None:
    at = datetime.fromtimestamp(frame_wall(100), tz=UTC)
    produced = archive_snapshot(
        file_packets(numbered_ts), at, origin="cam", container=ContainerFormat.PNG,
        path=tmp_path / "k.png",
    )  # fmt: skip
    assert image_frame_number(produced.path) == 100 % 32


def test_snapshot_in_a_gap_fails(numbered_ts: Path, tmp_path: Path) -> None:
    before = itertools.takewhile(lambda tp: tp.wall_dts < frame_wall(50), file_packets(numbered_ts))
    after = file_packets(numbered_ts, anchor=T0 + 5.0, run=1)
    at = datetime.fromtimestamp(T0 + 3.0, tz=UTC)
    with pytest.raises(ExportFailed, match="no frame of cam is shown"):
        archive_snapshot(
            itertools.chain(before, after), at, origin="cam", container=ContainerFormat.JPEG,
            path=tmp_path / "x.jpg",
        )  # fmt: skip
    assert not (tmp_path / "x.jpg").exists()


def test_snapshot_before_the_archive_fails(numbered_ts: Path, tmp_path: Path) -> None:
    at = datetime.fromtimestamp(T0 - 10, tz=UTC)
    with pytest.raises(ExportFailed, match="no frame of cam is shown"):
        archive_snapshot(
            file_packets(numbered_ts), at, origin="cam", container=ContainerFormat.JPEG,
            path=tmp_path / "x.jpg",
        )  # fmt: skip
