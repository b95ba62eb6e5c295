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

import dataclasses
import heapq
import logging
import math
from bisect import bisect_right
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from io import BytesIO
from itertools import chain, islice, pairwise
from typing import Any

import av

from vexport.media import nal
from vexport.media.packets import DEFAULT_FRAME_SECONDS, WALL_EPSILON, StreamKind, TimedPacket
from vexport.media.templates import StreamTemplate
from vexport.media.timeline import shown_by, shown_index
from vexport.redact import redact_url
from vexport.sources.archive_index import GAP_TOLERANCE, ArchiveError, ArchiveIndex, Segment
from vexport.storage import StorageError, StorageReader

__all__ = [
    "SegmentLoader",
    "iter_archive_packets",
    "iter_segments",
    "read_segment_packets",
    "segment_video_packets",
]

log = logging.getLogger(__name__)

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


def _open(data: bytes) -> Any:
    """A demuxer of one segment, probed without decoding.

    Opening probes the streams, and the probe decodes frames to learn what the
    headers already say: 30-40 ms a 1080p segment, the whole cost of a copy.
    The segments' packets are copied or decoded by decoders of our own, so the
    probe's decoders skip every frame (a segment then opens in 5-13 ms).
    """
    options = {"analyzeduration": "0"}
    skip: Any = [{"skip_frame": "all"}] * _PROBED_STREAMS  # PyAV's stub says list[str]
    try:
        return av.open(BytesIO(data), mode="r", options=options, stream_options=skip)
    except ValueError:  # a format that knows its streams only after probing
        return av.open(BytesIO(data), mode="r", options=options)


_PROBED_STREAMS = 4
"""Streams a segment's probe skips the decoding of (an archive has video and audio)."""


def _demux(data: bytes, segment: Segment) -> list[_Demuxed]:
    shown = redact_url(segment.url)
    try:
        container = _open(data)
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
        if segment.media_origin is not None:
            # The samples' media times place them; the template's nominal start does only
            # roughly (FFmpeg cuts $Number$ audio segments at the video's keyframes).
            media_start = (segment.start - segment.media_origin).total_seconds()
            if abs(first - media_start) <= max(0.5 * segment.duration, 0.1):
                anchors = {"video": media_start, "audio": media_start}
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
    # Each video packet's place in its segment: what a manifest's copied runs count in.
    position = 0
    for tp in timed:
        if tp.kind == "video":
            tp.segment = segment.url
            tp.segment_index = position
            tp.segment_init = segment.init_url
            position += 1
    return timed


@dataclass(frozen=True)
class SegmentVideo:
    """A segment's video packets' bytes, numbered as ``read_segment_packets`` numbers them."""

    codec: str
    extradata: bytes
    packets: list[bytes]


def segment_video_packets(data: bytes, name: str) -> SegmentVideo:
    """The video packets of one segment (``data``: init + media bytes) in decode order: the
    packets a manifest's copied runs count in (``evidence/verify.py`` compares them)."""
    dummy = Segment(url=name, start=datetime.fromtimestamp(0, UTC), duration=0.0,
                    track="muxed")  # fmt: skip
    video = [p for p in _demux(data, dummy) if p.kind == "video"]
    video.sort(key=lambda p: p.dts)
    if not video:
        return SegmentVideo("", b"", [])
    context = video[0].stream.codec_context
    return SegmentVideo(
        context.name, bytes(context.extradata or b""), [bytes(p.packet) for p in video]
    )


def _wall_dts(packet: TimedPacket) -> float:
    return packet.wall_dts


def iter_archive_packets(
    index: ArchiveIndex,
    start: datetime,
    end: datetime,
    reader: StorageReader,
    *,
    holes: list[tuple[float, float]] | None = None,
) -> Generator[TimedPacket, None, None]:
    """Packets covering [start, end] in wall-clock decode order (``media/timeline.py``).

    The first video packet is the keyframe at or before the frame shown at
    ``start``, so that frame can be decoded; video then runs through every
    packet decoded by ``end`` (the clip writer keeps those the frames shown by
    ``end`` need) and audio to the end of the last frame shown by ``end``.
    ``run`` grows by one after every gap, and nothing is invented to fill it.

    A gap is what the playlist says (a hole between segments) and what the
    segments say: a segment truncated or corrupt inside the range holds less
    video than its place in the playlist, and the video after it starts a new
    run too, never a silent hole (docs/design/robustness.md). Such holes, as
    (start, end) wall times, are appended to ``holes``.
    """
    if end < start:
        raise ValueError(f"export end {end.isoformat()} is before its start {start.isoformat()}")
    selected = index.segments_between(start, end)
    if not selected:
        return
    loader = SegmentLoader(reader)
    t_start, t_end = start.timestamp(), end.timestamp()
    boundaries = _run_boundaries(selected)
    found: list[float] = []  # runs begun at holes the segments revealed
    damage = _Damage(holes if holes is not None else [])

    def run_of(segment: Segment) -> int:
        at = segment.start.timestamp()
        return bisect_right(boundaries, at) + bisect_right(found, at)

    def lists(segments: Iterable[Segment]) -> Iterator[list[TimedPacket]]:
        for segment, data in read_ahead(loader, segments):
            yield read_segment_packets(segment, data, run=run_of(segment))

    def video_lists(segments: Iterable[Segment]) -> Iterator[list[TimedPacket]]:
        for segment, data in read_ahead(loader, segments):
            try:
                packets = read_segment_packets(segment, data, run=run_of(segment))
            except ArchiveError as exc:  # the hole it leaves is found at the next segment
                log.warning("%s; exported as a gap", exc)
                continue
            hole = damage.hole_before(packets, new_run=run_of(segment) == damage.run)
            if hole is not None:
                found.append(hole)
                packets = [dataclasses.replace(p, run=p.run + 1) for p in packets]
            damage.covered(packets)
            yield packets

    leading, first_start = _leading_lists(index, selected, loader, run_of, t_start)
    cut = _cut_point(leading, t_start)
    for packets in leading:
        damage.covered(packets)
    video_stream: Iterator[list[TimedPacket]] = chain(leading, video_lists(selected[1:]))
    stream: Iterator[TimedPacket] = _ordered(video_stream)
    if index.audio:
        audio_segments = index.audio_segments_between(first_start, end)
        stream = heapq.merge(stream, _ordered(lists(audio_segments)), key=_wall_dts)
    carrier = _ParameterSets(lambda: _earlier_parameter_sets(index, first_start, loader))
    yield from carrier.packets(_clip(stream, cut, t_end))
    damage.tail(min(t_end, selected[-1].end.timestamp()))


class _Damage:
    """Where the video read so far ends, and the holes found after it."""

    def __init__(self, holes: list[tuple[float, float]]) -> None:
        self.holes = holes
        self.end: float | None = None  # end of display of the last video frame read
        self.run: int | None = None

    def covered(self, packets: list[TimedPacket]) -> None:
        video = [p for p in packets if p.kind == "video"]
        if video:
            last = max(video, key=lambda p: p.wall_pts)
            self.end = max(self.end or -math.inf, last.wall_pts + _shown_for(last))
            self.run = last.run

    def hole_before(self, packets: list[TimedPacket], *, new_run: bool) -> float | None:
        """The wall time a new run must begin at, if video is missing before ``packets``."""
        video = [p.wall_pts for p in packets if p.kind == "video"]
        if not video or self.end is None or not new_run:
            return None  # no video yet, or the playlist's own gap already begins a run
        first = min(video)
        if first - self.end <= GAP_TOLERANCE.total_seconds():
            return None
        log.warning("archive video missing %.3f s before %.3f: exported as a gap",
                    first - self.end, first)  # fmt: skip
        self.holes.append((self.end, first))
        return (self.end + first) / 2

    def tail(self, until: float) -> None:
        if self.end is not None and until - self.end > GAP_TOLERANCE.total_seconds():
            self.holes.append((self.end, until))


def _shown_for(packet: TimedPacket) -> float:
    return packet.duration if packet.duration > 0 else DEFAULT_FRAME_SECONDS


def iter_segments(
    index: ArchiveIndex,
    segments: Sequence[Segment],
    start: datetime | None,
    reader: StorageReader,
) -> Iterator[TimedPacket]:
    """The packets of consecutive ``segments`` of a muxed (HLS) archive, whole.

    From the keyframe at or before the frame shown at ``start`` (from the first
    keyframe, if None) through the last packet of the last segment: nothing is
    trimmed at the end, so the next segment's packets follow without a gap or an
    overlap (the parts of an MPEG-TS passthrough).
    """
    if not segments:
        return
    loader = SegmentLoader(reader)

    def lists(chosen: Iterable[Segment]) -> Iterator[list[TimedPacket]]:
        for segment, data in read_ahead(loader, chosen):
            yield read_segment_packets(segment, data)

    cut: TimedPacket | None = None
    if start is None:
        leading: list[list[TimedPacket]] = []
        first_start = segments[0].start
        rest: Sequence[Segment] = segments
    else:
        leading, first_start = _leading_lists(
            index, list(segments), loader, lambda _segment: 0, start.timestamp()
        )
        cut = _cut_point(leading, start.timestamp())
        rest = segments[1:]
    carrier = _ParameterSets(lambda: _earlier_parameter_sets(index, first_start, loader))
    # Without a start everything is yielded: the segments continue a stream (the first
    # one starts on a keyframe, and its audio follows the audio before it).
    started = cut is None
    cut_dts = cut.wall_dts if cut is not None else None
    for packet in carrier.packets(_ordered(chain(leading, lists(rest)))):
        if not started:
            if cut_dts is not None and packet.wall_dts < cut_dts - WALL_EPSILON:
                continue
            if packet.kind != "video":
                continue
            started = True
        yield packet


def read_ahead(
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
    t_start: float,
) -> tuple[list[list[TimedPacket]], datetime]:
    """The first selected segment's packets, preceded by earlier contiguous segments
    until a keyframe at or before the frame shown at ``t_start`` is among them.

    Archives are usually cut at keyframes, but not always (a recorder that cuts
    by time, a segment that starts on an open GOP's leading pictures); then the
    frames before the segment's first keyframe need the previous segment.
    """
    first = selected[0]
    leading = [read_segment_packets(first, loader.load(first), run=run_of(first))]
    position = index.video.index(first)
    steps = 0
    while _cut_point(leading, t_start) is None and position > 0 and steps < _MAX_LOOKBACK:
        previous = index.video[position - 1]
        if first.start - previous.end > GAP_TOLERANCE:
            break
        leading.insert(0, read_segment_packets(previous, loader.load(previous), run=run_of(first)))
        first, position, steps = previous, position - 1, steps + 1
    return leading, first.start


def _cut_point(leading: list[list[TimedPacket]], t_start: float) -> TimedPacket | None:
    """The keyframe to decode from: the last, in decode order, shown at or before the frame
    shown at ``t_start`` (the first frame, if ``t_start`` is before the archive's)."""
    video = [p for packets in leading for p in packets if p.kind == "video"]
    if not video:
        return None
    times = sorted(p.wall_pts for p in video)
    index = shown_index(times, t_start)
    target = times[index] if index is not None else times[0]
    keyframes = [p for p in video if p.is_keyframe and shown_by(p.wall_pts, target)]
    return max(keyframes, key=_wall_dts) if keyframes else None


class _ParameterSets:
    """Gives every H.264/H.265 keyframe the parameter sets it needs to decode alone.

    Some encoders write SPS/PPS only with IDR frames: x264's open-GOP keyframes
    (I-frames with a recovery point) carry none, so an HLS-TS segment that starts
    with one cannot even say its picture size, and a clip or snapshot that starts
    there would not decode. The last parameter sets seen (or, for the first
    keyframe, those of an earlier segment) are put in front of such keyframes,
    and packets of streams that lack them carry a template made from a stream
    that has them. The pictures themselves are untouched.
    """

    def __init__(self, earlier: Callable[[], tuple[list[bytes], StreamTemplate | None]]) -> None:
        self._earlier = earlier
        self._sets: list[bytes] = []
        self._template: StreamTemplate | None = None
        self._described: Any = None  # the last input stream with its picture size
        self._template_of: Any = None

    def packets(self, packets: Iterable[TimedPacket]) -> Iterator[TimedPacket]:
        for tp in packets:
            if tp.kind == "video" and tp.stream.codec_context.name in _PARAMETER_SET_TYPES:
                tp = self._fixed(tp)
            yield tp

    def _fixed(self, tp: TimedPacket) -> TimedPacket:
        context = tp.stream.codec_context
        codec = context.name
        if nal.framing(codec, bytes(context.extradata or b"")) != nal.ANNEX_B:
            return tp  # MP4-style streams keep their parameter sets in the extradata
        described = bool(context.width)
        if described:
            self._described = tp.stream  # keeps one segment's demuxer alive, no more
        elif tp.template is None:
            tp.template = self._template_now()
        if not tp.is_keyframe:
            return tp
        data = bytes(tp.packet)
        wanted = _PARAMETER_SET_TYPES[codec]
        found = [n for n in nal.split(data, nal.ANNEX_B) if nal.nal_type(codec, n) in wanted]
        if found:
            self._sets = found
            return tp
        if not self._sets:
            # The demuxer may have found them further into the segment; else look back.
            self._sets = nal.parameter_sets(codec, bytes(context.extradata or b""))
        if not self._sets:
            self._sets, self._template = self._earlier()
            if not described:
                tp.template = self._template_now()
        if not self._sets:
            return tp
        packet = av.Packet(nal.annexb(self._sets) + data)
        packet.time_base, packet.pts, packet.dts = tp.packet.time_base, tp.packet.pts, tp.packet.dts
        packet.is_keyframe = True
        tp.packet = packet
        return tp

    def _template_now(self) -> StreamTemplate | None:
        """A template of the last stream that said its picture size (made once per stream)."""
        if self._described is not None and self._described is not self._template_of:
            self._template = StreamTemplate(self._described)
            self._template_of = self._described
        return self._template


_PARAMETER_SET_TYPES = {"h264": (nal.H264_SPS, nal.H264_PPS), "hevc": nal.HEVC_PARAMETER_SETS}
_PARAMETER_SET_SEARCH = 8
"""Segments to look back for the parameter sets of a keyframe that carries none."""


def _earlier_parameter_sets(
    index: ArchiveIndex, before: datetime, loader: SegmentLoader
) -> tuple[list[bytes], StreamTemplate | None]:
    """The parameter sets of the latest segment from ``before`` back that has them."""
    earlier = [s for s in index.video if s.start <= before][-_PARAMETER_SET_SEARCH:]
    for segment in reversed(earlier):
        try:
            packets = read_segment_packets(segment, loader.load(segment))
        except ArchiveError:
            continue
        for tp in packets:
            if tp.kind != "video" or not tp.is_keyframe:
                continue
            codec = tp.stream.codec_context.name
            wanted = _PARAMETER_SET_TYPES.get(codec, ())
            data = bytes(tp.packet)
            found = [n for n in nal.split(data, nal.ANNEX_B) if nal.nal_type(codec, n) in wanted]
            if found:
                template = StreamTemplate(tp.stream) if tp.stream.codec_context.width else None
                return found, template
    return [], None


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


def _clip(
    stream: Iterator[TimedPacket], cut: TimedPacket | None, t_end: float
) -> Iterator[TimedPacket]:
    """From the cut keyframe (or the first keyframe, if none) through what ``t_end`` needs."""
    cut_dts = cut.wall_dts if cut is not None else None
    started = False
    video_end = -math.inf  # end of display of the last video frame shown by t_end
    for packet in stream:
        if packet.kind == "video":
            if not started:
                if cut_dts is None:
                    if not packet.is_keyframe:
                        continue
                elif packet.wall_dts < cut_dts - WALL_EPSILON:
                    continue
                started = True
            if packet.wall_dts > t_end + WALL_EPSILON:
                continue  # decoded after t_end: shows nothing by then
            if shown_by(packet.wall_pts, t_end):
                frame = packet.duration or DEFAULT_FRAME_SECONDS
                video_end = max(video_end, packet.wall_pts + frame)
        else:
            if not started and (cut_dts is None or packet.wall_dts < cut_dts - WALL_EPSILON):
                continue
            if (
                packet.wall_dts > t_end + WALL_EPSILON
                and packet.wall_pts >= video_end - WALL_EPSILON
            ):
                continue
        yield packet
