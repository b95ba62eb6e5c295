"""The unit that flows from sources to writers: a demuxed packet with its wall-clock time.

Archive and live sources differ in how they learn when a frame happened
(segment anchors versus arrival time), but once a packet carries its
wall-clock presentation and decode times, clip writing and snapshotting do not
care where it came from.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

StreamKind = Literal["video", "audio"]

WALL_EPSILON = 1e-4
"""Seconds within which two float wall times are the same instant.

POSIX seconds as floats resolve ~0.2 µs today; frames are tens of milliseconds
apart, so anything closer than this is rounding, not a different frame.
"""

DEFAULT_FRAME_SECONDS = 0.04
"""How long a frame shows when its packet carries no duration (25 fps)."""


def wall_datetime(seconds: float) -> datetime:
    """A wall time in POSIX seconds as the aware UTC datetime the rest of vexport uses."""
    return datetime.fromtimestamp(seconds, tz=UTC)


@dataclass(slots=True)
class TimedPacket:
    """One demuxed packet and the wall-clock times of its presentation and decode.

    ``wall_pts``/``wall_dts`` are POSIX seconds (float, UTC). ``stream`` is the
    PyAV input stream the packet came from; writers use the first one seen per
    ``kind`` as the template of their output stream, so every source must keep
    codec parameters constant within one export (a camera does).
    ``run`` numbers contiguous runs of the source: it changes after a gap in an
    archive or a reconnect of a live input, where timestamps jump.
    ``reencoded`` marks packets a smart cut encoded anew (the rest are the
    recording's own); ``template`` is the ``StreamTemplate`` a smart cut wants
    the output stream made from (its parameter sets), else None.
    ``segment``/``segment_index``: for a video packet read from an archive, the URL of
    its segment and its place among that segment's video packets in decode order
    (``media/provenance.py``: the edit list a signed manifest records), and the URL of
    the initialization segment it is read with (fMP4).
    """

    packet: Any  # av.Packet
    stream: Any  # av.stream.Stream (input side)
    kind: StreamKind
    wall_pts: float
    wall_dts: float
    duration: float  # seconds, 0.0 when unknown
    is_keyframe: bool
    run: int = 0
    reencoded: bool = False
    template: Any = None
    segment: str | None = None
    segment_index: int = -1
    segment_init: str | None = None
