"""The exactness checks every export of a corpus archive must pass (``tests.corpus``).

One set of checks for every export kind, so a clip in any container, a split
clip, a masked, overlaid or transcoded clip, a snapshot and a PDF all promise
the same: the first and last frames shown are the ones asked for (read from
the pixels, within one frame), no frame is missing or repeated, the reported
first and last times are those frames' times, and the sound plays with the
picture as the camera recorded it.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from pypdf import PdfReader

from tests import corpus, framecode
from tests.framecode import read_frame_number
from vexport.media.plan import ProducedFile

TIME_TOLERANCE = timedelta(milliseconds=1)
SYNC_TOLERANCE = 0.03
"""Seconds a beep may move against the picture: one AAC frame (21 ms) and rounding."""
AVI_SYNC_TOLERANCE = 0.11
"""AVI keeps no presentation times: players rebuild them from the frame count and the
decoder's reordering delay (up to two frames with B-frames), plus one AAC frame."""


def corpus_root(factory: pytest.TempPathFactory) -> Path:
    """A directory all xdist workers of this run share, keyed by the generators' code."""
    code = b"".join(Path(m.__file__).read_bytes() for m in (corpus, framecode) if m.__file__)
    key = hashlib.sha256(code).hexdigest()[:12]
    return factory.getbasetemp().parent / f"corpus-{key}"


@dataclass(frozen=True)
class Shown:
    """A decoded frame: its number (from the pixels) and its wall time."""

    number: int
    wall: datetime


def clip_frames(file: ProducedFile) -> list[Shown]:
    """The frames of one clip file in presentation order, mapped to wall time.

    The file's clock starts at its first frame, whose wall time the export
    reported (``first_frame``); a frame's wall time is that plus its offset.
    """
    with av.open(str(file.path)) as container:
        decoded = [(float(f.time), read_frame_number(f)) for f in container.decode(video=0)]
    assert decoded, f"{file.path.name}: no video"
    assert all(n is not None for _, n in decoded), f"{file.path.name}: unreadable frames"
    start = decoded[0][0]
    return [
        Shown(n, file.first_frame + timedelta(seconds=t - start))
        for t, n in decoded
        if n is not None
    ]


def check_clip(
    archive: corpus.Archive,
    files: Sequence[ProducedFile],
    start: datetime,
    end: datetime,
    *,
    exact: bool = True,
    codec: str | None = None,
) -> list[int]:
    """All of the module docstring's promises, for the files of one clip; the frame numbers."""
    assert files, "no file"
    numbers: list[int] = []
    for file in files:
        frames = clip_frames(file)
        first, last = frames[0].number, frames[-1].number
        # The reported times are the times of the frames the file shows first and last.
        assert abs(file.first_frame - archive.frame_wall(first)) <= TIME_TOLERANCE, (
            file.path.name,
            first,
            file.first_frame,
        )
        assert abs(file.last_frame - archive.frame_wall(last)) <= TIME_TOLERANCE, (
            file.path.name,
            last,
            file.last_frame,
        )
        if codec is not None:
            with av.open(str(file.path)) as container:
                assert container.streams.video[0].codec_context.name == codec
        numbers += [f.number for f in frames]
    # No frame missing or repeated, across the parts too.
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers))), _runs(numbers)
    wanted_first, wanted_last = archive.frame_at(start), archive.frame_at(end)
    slack = 1 if exact else 3
    assert abs(numbers[0] - wanted_first) <= 1, (numbers[0], wanted_first)
    assert -1 <= numbers[-1] - wanted_last <= slack, (numbers[-1], wanted_last)
    return numbers


def top_level_boxes(path: Path) -> list[str]:
    """The types of an MP4/MOV file's top-level boxes, in file order."""
    data = path.read_bytes()
    boxes, position = [], 0
    while position + 8 <= len(data):
        size = int.from_bytes(data[position : position + 4], "big")
        kind = data[position + 4 : position + 8].decode("latin-1")
        if size == 1:
            size = int.from_bytes(data[position + 8 : position + 16], "big")
        boxes.append(kind)
        if size < 8:
            break
        position += size
    return boxes


def check_container(file: ProducedFile) -> None:
    """MP4/MOV play while downloading (moov first); files say when they were recorded."""
    if file.path.suffix in (".mp4", ".mov"):
        boxes = top_level_boxes(file.path)
        assert boxes.index("moov") < boxes.index("mdat"), boxes
    if file.path.suffix in (".mp4", ".mov", ".mkv"):
        with av.open(str(file.path)) as container:
            recorded = datetime.fromisoformat(container.metadata["creation_time"])
        resolution = timedelta(seconds=1) if file.path.suffix != ".mkv" else TIME_TOLERANCE
        assert abs(recorded - file.first_frame) < resolution, (recorded, file.first_frame)


def _runs(numbers: list[int]) -> str:
    """Where a frame sequence breaks, for an assertion message."""
    breaks = [(a, b) for a, b in itertools.pairwise(numbers) if b != a + 1]
    return f"{len(numbers)} frames {numbers[0]}..{numbers[-1]}, breaks at {breaks[:5]}"


def check_sync(archive: corpus.Archive, file: ProducedFile) -> None:
    """The beeps sound when the camera recorded them, against the file's own picture."""
    if not archive.spec.audio:
        return
    onsets = beep_onsets(file)
    assert onsets, f"{file.path.name}: no beep in the audio"
    expected = [w.timestamp() for w in archive.beep_walls()]
    tolerance = AVI_SYNC_TOLERANCE if file.path.suffix == ".avi" else SYNC_TOLERANCE
    for onset in onsets:
        nearest = min(expected, key=lambda w: abs(w - onset))
        assert abs(nearest - onset) <= tolerance, (file.path.name, onset - nearest)


def beep_onsets(file: ProducedFile) -> list[float]:
    """Wall times (POSIX seconds) where a beep starts in the file's audio."""
    with av.open(str(file.path)) as container:
        if not container.streams.audio:
            return []
        video_start = _first_video_time(file.path)
        samples: list[np.ndarray[Any, Any]] = []
        first_time: float | None = None
        rate = 48000
        for frame in container.decode(audio=0):
            if first_time is None:
                first_time = float(frame.time)
                rate = frame.sample_rate
            samples.append(frame.to_ndarray().astype(np.float32).reshape(-1))
    if not samples or first_time is None:
        return []
    signal = np.abs(np.concatenate(samples))
    loud = signal > 0.1
    onsets = []
    quiet = int(0.2 * rate)
    last_loud = -quiet
    for index in np.flatnonzero(loud):
        if index - last_loud >= quiet:
            onsets.append(index)
        last_loud = index
    base = file.first_frame.timestamp() - video_start
    return [base + first_time + index / rate for index in onsets if index > 0]


def _first_video_time(path: Path) -> float:
    with av.open(str(path)) as container:
        return float(next(container.decode(video=0)).time)


def image_number(path: Path) -> int | None:
    """The frame number in a JPEG or PNG snapshot."""
    with av.open(str(path)) as container:
        return read_frame_number(next(container.decode(video=0)))


def pdf_image_number(path: Path) -> int | None:
    """The frame number in the picture of a PDF snapshot."""
    (image,) = PdfReader(path).pages[0].images
    frame = av.VideoFrame.from_image(image.image.convert("RGB"))
    return read_frame_number(frame)


def archive_bytes(archive: corpus.Archive) -> Iterator[tuple[str, bytes]]:
    """(path relative to the archive's folder, bytes) of every file of the archive."""
    for path in sorted(archive.manifest.parent.iterdir()):
        if path.is_file() and path.suffix in (".m3u8", ".mpd", ".ts", ".m4s", ".mp4"):
            yield path.name, path.read_bytes()


__all__ = [
    "archive_bytes",
    "beep_onsets",
    "check_clip",
    "check_container",
    "check_sync",
    "clip_frames",
    "corpus_root",
    "image_number",
    "pdf_image_number",
]
