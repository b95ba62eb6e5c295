"""Demuxed archive packets with their wall-clock times (DESIGN.md section 6, "Wall clock").

The archive index says when each segment's anchor frame happened; here each
packet gets ``anchor + (its PTS - the anchor's PTS)``. HLS anchors on the
segment's first *video* frame for both tracks (the PDT is that frame's time,
and audio often starts a few tens of milliseconds before it); DASH anchors each
track's segment on its own first sample, as the MPD times each track.

Segments are demuxed one at a time so that an hour-long export holds a few
segments in memory, not the hour. Their bytes are fetched ``READ_AHEAD``
segments ahead by a small thread pool: on S3 or HTTP each read is a round
trip of tens of milliseconds, and reading them one after another made the
round trips, not the remux, the cost of a stream copy. Packets keep a reference to their
PyAV stream, which keeps that segment's demuxer (and its bytes) alive only
while someone holds the packet.
"""

from __future__ import annotations

import heapq
import math
from bisect import bisect_right
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from io import BytesIO
from itertools import chain, islice, pairwise
from typing import Any

import av

from vexport.media.packets import WALL_EPSILON, StreamKind, TimedPacket
from vexport.redact import redact_url
from vexport.sources.archive_index import GAP_TOLERANCE, ArchiveError, ArchiveIndex, Segment
from vexport.storage import StorageError, StorageReader

__all__ = ["SegmentLoader", "iter_archive_packets", "read_segment_packets"]

_MAX_LOOKBACK = 3
"""Segments to step back when the first one does not begin with a keyframe."""

_MPEGTS_WRAP_TICKS = 2**33

READ_AHEAD = 4
"""Segments read concurrently ahead of the one being demuxed."""


class SegmentLoader:
    """Fetches segment bytes, with each fMP4 initialization segment read once."""

    def __init__(self, reader: StorageReader) -> None:
        self._reader = reader
        self._inits: dict[str, bytes] = {}

    def load(self, segment: Segment) -> bytes:
        data = self._read(segment.url, "segment")
        if segment.init_url is None:
            return data
        init = self._inits.get(segment.init_url)
        if init is None:
            init = self._inits[segment.init_url] = self._read(segment.init_url, "init segment")
        return init + data

    def _read(self, url: str, what: str) -> bytes:
        try:
            return self._reader.read(url)
        except StorageError as exc:
            raise ArchiveError(f"archive {what} unreadable: {exc}") from None


@dataclass(slots=True)
class _Demuxed:
    packet: Any
    stream: Any
    kind: StreamKind
    pts: float  # seconds in the stream's own timeline, MPEG-TS wrap undone
    dts: float
    duration: float
    keyframe: bool


def _demux(data: bytes, segment: Segment) -> list[_Demuxed]:
    shown = redact_url(segment.url)
    try:
        container = av.open(BytesIO(data), mode="r")
    except (av.FFmpegError, ValueError) as exc:
        raise ArchiveError(f"archive segment {shown} is not readable media: {exc}") from None
    wrap = _wrap_seconds(container)
    reference: float | None = None
    packets: list[_Demuxed] = []
    try:
        for packet in container.demux():
            kind = packet.stream.type
            if packet.pts is None or kind not in ("video", "audio"):
                continue
            if packet.stream.time_base is None:
                continue
            time_base = float(packet.stream.time_base)
            pts = packet.pts * time_base
            dts = packet.dts * time_base if packet.dts is not None else pts
            if wrap is not None:
                reference = pts if reference is None else reference
                pts, dts = _unwrap(pts, reference, wrap), _unwrap(dts, reference, wrap)
            duration = (packet.duration or 0) * time_base
            packets.append(
                _Demuxed(packet, packet.stream, kind, pts, dts, duration, packet.is_keyframe)
            )
    except av.FFmpegError as exc:
        raise ArchiveError(f"archive segment {shown} is corrupt: {exc}") from None
    if not packets:
        raise ArchiveError(f"archive segment {shown} holds no audio or video packets")
    return packets


def _wrap_seconds(container: Any) -> float | None:
    """MPEG-TS timestamps wrap every 26.5 hours; a 24/7 camera crosses that daily."""
    if "mpegts" not in container.format.name:
        return None
    return float(_MPEGTS_WRAP_TICKS / 90000)


def _unwrap(value: float, reference: float, wrap: float) -> float:
    delta = value - reference
    if delta < -wrap / 2:
        return value + wrap
    if delta > wrap / 2:
        return value - wrap
    return value


def read_segment_packets(segment: Segment, data: bytes, *, run: int = 0) -> list[TimedPacket]:
    """The packets of one segment (``data``: init + media bytes), timed and in decode order.

    Muxed (HLS) segments anchor both tracks on the smallest video PTS; a DASH
    track segment anchors on its own smallest PTS.
    """
    demuxed = _demux(data, segment)
    anchor_start = segment.start.timestamp()
    if segment.track == "muxed":
        video = [p.pts for p in demuxed if p.kind == "video"]
        if not video:
            raise ArchiveError(f"archive segment {redact_url(segment.url)} has no video")
        anchors = {"video": min(video), "audio": min(video)}
    else:
        wanted = [p for p in demuxed if p.kind == segment.track]
        if not wanted:
            raise ArchiveError(
                f"archive segment {redact_url(segment.url)} has no {segment.track} packets"
            )
        demuxed = wanted
        first = min(p.pts for p in wanted)
        anchors = {"video": first, "audio": first}
    timed = [
        TimedPacket(
            packet=p.packet,
            stream=p.stream,
            kind=p.kind,
            wall_pts=anchor_start + (p.pts - anchors[p.kind]),
            wall_dts=anchor_start + (p.dts - anchors[p.kind]),
            duration=p.duration,
            is_keyframe=p.keyframe,
            run=run,
        )
        for p in demuxed
    ]
    timed.sort(key=_wall_dts)
    return timed


def _wall_dts(packet: TimedPacket) -> float:
    return packet.wall_dts


def iter_archive_packets(
    index: ArchiveIndex, start: datetime, end: datetime, reader: StorageReader
) -> Generator[TimedPacket, None, None]:
    """Packets covering [start, end] in wall-clock decode order, from a keyframe at or before start.

    Video stops at the last frame that decodes by ``end``; audio continues to
    the end of that frame's display. ``run`` grows by one after every gap, and
    nothing is invented to fill the gap.
    """
    if end < start:
        raise ValueError(f"export end {end.isoformat()} is before its start {start.isoformat()}")
    selected = index.segments_between(start, end)
    if not selected:
        return
    loader = SegmentLoader(reader)
    t_start, t_end = start.timestamp(), end.timestamp()
    boundaries = _run_boundaries(selected)

    def run_of(segment: Segment) -> int:
        return bisect_right(boundaries, segment.start.timestamp())

    def lists(segments: Iterable[Segment]) -> Iterator[list[TimedPacket]]:
        for segment, data in _read_ahead(loader, segments):
            yield read_segment_packets(segment, data, run=run_of(segment))

    leading, first_start = _leading_lists(index, selected, loader, run_of)
    cut = _keyframe_cut(leading, t_start)
    video_lists: Iterator[list[TimedPacket]] = chain(leading, lists(selected[1:]))
    stream: Iterator[TimedPacket] = _ordered(video_lists)
    if index.audio:
        audio_segments = index.audio_segments_between(first_start, end)
        stream = heapq.merge(stream, _ordered(lists(audio_segments)), key=_wall_dts)
    yield from _clip(stream, cut, t_end)


def _read_ahead(
    loader: SegmentLoader, segments: Iterable[Segment], window: int = READ_AHEAD
) -> Iterator[tuple[Segment, bytes]]:
    """Each segment with its bytes, in order, with up to ``window`` reads in flight.

    Closing the generator early (a stopped export) cancels the reads not yet
    started and does not wait for the ones under way.
    """
    remaining = iter(segments)
    pool = ThreadPoolExecutor(max_workers=window, thread_name_prefix="segment-read")
    try:
        pending: deque[tuple[Segment, Future[bytes]]] = deque(
            (segment, pool.submit(loader.load, segment)) for segment in islice(remaining, window)
        )
        while pending:
            segment, reading = pending.popleft()
            following = next(remaining, None)
            if following is not None:
                pending.append((following, pool.submit(loader.load, following)))
            yield segment, reading.result()
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _run_boundaries(segments: Sequence[Segment]) -> list[float]:
    """Wall times (gap midpoints) where a new run begins."""
    boundaries: list[float] = []
    for previous, current in pairwise(segments):
        if current.start - previous.end > GAP_TOLERANCE:
            middle = previous.end + (current.start - previous.end) / 2
            boundaries.append(middle.timestamp())
    return boundaries


def _leading_lists(
    index: ArchiveIndex,
    selected: list[Segment],
    loader: SegmentLoader,
    run_of: Callable[[Segment], int],
) -> tuple[list[list[TimedPacket]], datetime]:
    """The first selected segment's packets, preceded by earlier contiguous segments
    until one begins with a keyframe (archives are cut at keyframes; if one is not,
    its first frames need the previous segment to decode)."""
    first = selected[0]
    leading = [read_segment_packets(first, loader.load(first), run=run_of(first))]
    position = index.video.index(first)
    steps = 0
    while not _starts_with_keyframe(leading[0]) and position > 0 and steps < _MAX_LOOKBACK:
        previous = index.video[position - 1]
        if first.start - previous.end > GAP_TOLERANCE:
            break
        leading.insert(0, read_segment_packets(previous, loader.load(previous), run=run_of(first)))
        first, position, steps = previous, position - 1, steps + 1
    return leading, first.start


def _starts_with_keyframe(packets: list[TimedPacket]) -> bool:
    video = next((p for p in packets if p.kind == "video"), None)
    return video is not None and video.is_keyframe


def _keyframe_cut(leading: list[list[TimedPacket]], t_start: float) -> float:
    """Wall time of the last video keyframe at or before ``t_start`` (-inf if none)."""
    keyframes = [
        p.wall_pts
        for packets in leading
        for p in packets
        if p.kind == "video" and p.is_keyframe and p.wall_pts <= t_start + WALL_EPSILON
    ]
    return max(keyframes) if keyframes else -math.inf


def _ordered(lists: Iterator[list[TimedPacket]]) -> Iterator[TimedPacket]:
    """Flatten per-segment sorted lists into one sorted stream.

    Neighbouring segments may overlap by a few packets (audio leading the next
    segment's video); holding back the previous segment's tail until the next
    segment's first packet is known fixes that without reading ahead further.
    """
    pending: deque[TimedPacket] = deque()
    for packets in lists:
        if packets:
            cut = packets[0].wall_dts
            while pending and pending[0].wall_dts <= cut:
                yield pending.popleft()
        pending = deque(heapq.merge(pending, packets, key=_wall_dts))
    yield from pending


def _clip(stream: Iterator[TimedPacket], cut: float, t_end: float) -> Iterator[TimedPacket]:
    video_end = -math.inf  # end of display of the last video frame yielded
    for packet in stream:
        if packet.wall_dts < cut - WALL_EPSILON:
            continue
        if packet.kind == "video":
            if packet.wall_dts > t_end + WALL_EPSILON:
                continue
            video_end = max(video_end, packet.wall_pts + packet.duration)
        elif packet.wall_dts > t_end + WALL_EPSILON and packet.wall_pts >= video_end - WALL_EPSILON:
            continue
        yield packet
