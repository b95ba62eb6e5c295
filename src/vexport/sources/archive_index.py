"""Which archive segments hold which wall-clock times (HLS and DASH).

INTERFACE STUB: the dataclasses and signatures below are the contract between
the archive index and the media engine; the implementation fills them in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from vexport.sources.storage import StorageReader

TrackKind = Literal["muxed", "video", "audio"]


@dataclass(frozen=True)
class Segment:
    """One media segment of an archive.

    ``start`` is the wall-clock time of the segment's anchor frame: for HLS
    (``muxed`` TS or fMP4 segments) its first *video* frame
    (``EXT-X-PROGRAM-DATE-TIME``); for a DASH track, its first sample in that
    track (availabilityStartTime + Period@start + (S@t - presentationTimeOffset)/timescale).
    ``init_url`` is the fMP4 initialization segment to prepend, if any.
    """

    url: str
    start: datetime
    duration: float
    track: TrackKind
    init_url: str | None = None
    sequence: int = 0

    @property
    def end(self) -> datetime: ...


@dataclass(frozen=True)
class Gap:
    start: datetime
    end: datetime


@dataclass(frozen=True)
class ArchiveIndex:
    """Segments of one archive, sorted by start, per track.

    HLS archives have one ``muxed`` track; DASH archives have a ``video`` track
    and optionally an ``audio`` track, each with its own segments.
    """

    url: str
    video: tuple[Segment, ...]
    audio: tuple[Segment, ...] = ()

    @property
    def start(self) -> datetime | None: ...

    @property
    def end(self) -> datetime | None: ...

    def segments_between(self, start: datetime, end: datetime) -> list[Segment]:
        """Video (or muxed) segments that overlap [start, end], in order."""
        ...

    def gaps_between(self, start: datetime, end: datetime) -> list[Gap]:
        """Parts of [start, end] no segment covers (tolerance: half a frame / 50 ms)."""
        ...


class ArchiveError(Exception):
    """The archive's manifest is missing, unreadable or malformed; message for the user."""


def load_archive_index(url: str, reader: StorageReader) -> ArchiveIndex:
    """Read and parse the HLS media playlist or DASH MPD at ``url``."""
    ...
