"""Shared helpers of the media tests: packets stamped with known wall times, decoded frames."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import av
import pytest

from tests.media_fixtures import FPS, frame_number, make_numbered_video
from vexport.media.packets import TimedPacket

ANCHOR = datetime(2026, 3, 1, 10, 0, 0, tzinfo=UTC)
T0 = ANCHOR.timestamp()
FRAME = 1 / FPS


def frame_wall(n: int, anchor: float = T0) -> float:
    return anchor + n / FPS


def file_packets(path: Path, anchor: float = T0, run: int = 0) -> Iterator[TimedPacket]:
    """The file's packets with frame N at ``anchor + N/25``, as an archive source gives them."""
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        first = None
        for packet in container.demux():
            if packet.pts is None or packet.dts is None:
                continue
            kind = packet.stream.type
            if kind not in ("video", "audio"):
                continue
            if first is None:
                first = float(video.start_time * video.time_base)
            tb = packet.time_base
            yield TimedPacket(
                packet=packet,
                stream=packet.stream,
                kind=kind,
                wall_pts=anchor + float(packet.pts * tb) - first,
                wall_dts=anchor + float(packet.dts * tb) - first,
                duration=float((packet.duration or 0) * tb),
                is_keyframe=packet.is_keyframe,
                run=run,
            )


def decoded(path: Path) -> list[tuple[float, int]]:
    """(presentation time, frame number mod 32) of every frame a player shows."""
    with av.open(str(path)) as container:
        return [(float(frame.time), frame_number(frame)) for frame in container.decode(video=0)]


def assert_consecutive(numbers: list[int]) -> None:
    for a, b in itertools.pairwise(numbers):
        assert b == (a + 1) % 32, numbers


@pytest.fixture(scope="session")
def numbered_ts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 s of numbered frames, keyframe every second, AAC audio, MPEG-TS."""
    return make_numbered_video(tmp_path_factory.mktemp("numbered") / "src.ts", 8.0)
