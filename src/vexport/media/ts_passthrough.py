"""MPEG-TS clips out of HLS-TS archives: the middle segments as bytes, the ends cut exactly.

A 5-minute clip of a 2-second-segment archive is 150 segments, of which only
the first and the last hold a cut. The others are passed through untouched:
never demuxed, never muxed, only their continuity counters renumbered so the
transport stream counts on across the joins. The first segments (up to the
first one that starts cleanly on a keyframe after the clip's start) and the
last ones (from the last clean start) go through the usual smart cut and are
muxed with the archive's own PIDs, program and clock, so the three pieces are
one stream. See docs/design/smart-cut.md ("MPEG-TS passthrough").

``passthrough_clip`` answers None whenever the clip is not such a case (a gap,
a size limit, too few segments, segments that never start cleanly, a
non-TS archive); the caller then writes the clip the usual way.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from datetime import datetime
from itertools import chain, pairwise
from pathlib import Path

from vexport.media import mpegts
from vexport.media.archive_source import SegmentLoader, iter_segments, read_ahead
from vexport.media.clip_writer import ClipRequest, Muxing, write_clip
from vexport.media.control import JobControl
from vexport.media.plan import ContainerFormat, ProducedFile
from vexport.media.provenance import PacketRun, RunRecorder
from vexport.media.seams import verify_seams
from vexport.media.smart_cut import SmartCutter
from vexport.sources.archive_index import GAP_TOLERANCE, ArchiveIndex, Segment
from vexport.storage import StorageReader

__all__ = ["passthrough_clip"]

log = logging.getLogger(__name__)

MIN_SEGMENTS = 4
"""Fewer segments leave nothing worth passing through."""
_WRAP = 2**33
_TICKS = 90_000


def passthrough_clip(
    index: ArchiveIndex,
    start: datetime,
    end: datetime,
    reader: StorageReader,
    *,
    origin: str,
    output: Path,
    control: JobControl,
    smart: bool,
) -> list[ProducedFile] | None:
    """The clip [start, end] as ``output`` (MPEG-TS), or None when not a passthrough case.

    ``smart``: the ends are smart cut (else the clip starts at the keyframe before
    ``start`` and ends after the references the frame shown at ``end`` needs).
    """
    segments = index.segments_between(start, end)
    if len(segments) < MIN_SEGMENTS or index.audio or index.gaps_between(start, end):
        return None
    if any(s.track != "muxed" or s.init_url is not None for s in segments):
        return None
    loader = SegmentLoader(reader)

    def clean(position: int, layout: mpegts.Layout | None) -> tuple[bool, mpegts.Layout | None]:
        data = loader.load(segments[position])
        try:
            view = mpegts.packet_view(data)
            found = mpegts.Layout.of(view)
        except mpegts.NotTransportStream:
            return False, layout
        if layout is not None and found != layout:
            return False, layout
        return mpegts.starts_with_keyframe(view, found), found

    layout: mpegts.Layout | None = None
    # The segment holding the start and the next stay muxed: the start's GOP is re-encoded
    # up to the next keyframe (K1), and copying resumes there, so the GOP before the first
    # raw segment is copied whole (an open GOP's leading pictures refer to it).
    first_raw = 2
    while first_raw < len(segments) - 1:
        ok, layout = clean(first_raw, layout)
        if ok:
            break
        first_raw += 1
    tail_from = len(segments) - 1
    while tail_from > first_raw:
        ok, layout = clean(tail_from, layout)
        if ok:
            break
        tail_from -= 1
    if layout is None or tail_from <= first_raw:
        return None

    work = output.parent
    head = _muxed_end(
        index, segments[:first_raw], start, None, reader, layout, work, "head", control, smart
    )
    tail = _muxed_end(
        index, segments[tail_from:], None, end, reader, layout, work, "tail", control, smart
    )
    if head is None or tail is None:
        return None
    if not head.frames_copied:
        log.info("%s: the start's GOP runs past two segments: no passthrough", origin)
        return None
    raw_frames, raw_runs = _join(
        output,
        head.path,
        _raw(loader, segments[first_raw:tail_from], control),
        tail.path,
        layout,
    )
    head.path.unlink(missing_ok=True)
    tail.path.unlink(missing_ok=True)
    frames = (*head.frames, *((w, False) for w in raw_frames), *tail.frames)
    hole = _hole(sorted(wall for wall, _ in frames))
    if hole is not None:
        # A segment the playlist lists whole holds less video (truncated, corrupt): the
        # packet path makes that a gap with a new file; a raw copy would hide it.
        log.info("%s: video missing after %.3f: no passthrough", origin, hole)
        output.unlink(missing_ok=True)
        return None
    return [
        ProducedFile(
            path=output,
            origin=origin,
            first_frame=head.first_frame,
            last_frame=tail.last_frame,
            mime_type=ContainerFormat.MPEG_TS.mime_type,
            frames_copied=head.frames_copied + len(raw_frames) + tail.frames_copied,
            frames_reencoded=head.frames_reencoded + tail.frames_reencoded,
            reencoded_ranges=(*head.reencoded_ranges, *tail.reencoded_ranges),
            frames=frames,
            copied_crcs=(*head.copied_crcs, *tail.copied_crcs),
            provenance=(*head.provenance, *raw_runs, *tail.provenance),
        )
    ]


def _hole(walls: Sequence[float]) -> float | None:
    """Where frames stop for longer than a gap (``GAP_TOLERANCE`` beyond the frame rate)."""
    steps = sorted(b - a for a, b in pairwise(walls))
    if not steps:
        return None
    frame = steps[len(steps) // 2]
    limit = frame + GAP_TOLERANCE.total_seconds()
    for a, b in pairwise(walls):
        if b - a > limit:
            return a
    return None


def _muxed_end(
    index: ArchiveIndex,
    segments: Sequence[Segment],
    start: datetime | None,
    end: datetime | None,
    reader: StorageReader,
    layout: mpegts.Layout,
    work: Path,
    name: str,
    control: JobControl,
    smart: bool,
) -> ProducedFile | None:
    """The first or last segments, cut (smart or not) and muxed to join the raw middle."""
    packets = iter(iter_segments(index, segments, start, reader))
    first = next(packets, None)
    if first is None:
        return None
    # The archive's own clock: output time 0 is media time 0, so the timestamps are the
    # segments' own and the raw middle continues them.
    media = (first.packet.pts % _WRAP) / _TICKS if first.packet.pts is not None else 0.0
    audio = next((pid for pid in layout.streams if pid != layout.video_pid), None)
    muxing = Muxing(
        origin=first.wall_pts - media,
        stream_ids={"video": layout.video_pid, **({"audio": audio} if audio else {})},
        options={
            "mpegts_pmt_start_pid": str(layout.pmt_pid),
            "mpegts_service_id": str(layout.program),
            "mpegts_copyts": "1",
        },
        continues=start is None,
    )
    cutter = SmartCutter(
        start.timestamp() if smart and start else None,
        end.timestamp() if smart and end else None,
    )
    files = write_clip(
        cutter.packets(chain([first], packets)),
        ClipRequest(
            start=start.timestamp() if start else None, end=end.timestamp() if end else None
        ),
        origin="passthrough",
        container=ContainerFormat.MPEG_TS,
        output_dir=work,
        file_prefix=f".{name}",
        control=control,
        edit_list=False,
        leading=cutter.leading_pictures,
        muxing=muxing,
    )
    if len(files) != 1:
        for file in files:
            file.path.unlink(missing_ok=True)
        return None
    if cutter.codec is not None:
        verify_seams(files, cutter.codec)
    return files[0]


def _raw(
    loader: SegmentLoader,
    segments: Sequence[Segment],
    control: JobControl,
) -> Iterator[tuple[Segment, bytes]]:
    """The middle segments' bytes, in order, read ahead (stops early on a stop request)."""
    for segment, data in read_ahead(loader, segments):
        if control.stop_requested():
            return
        yield segment, data


def _join(
    output: Path,
    head: Path,
    middle: Iterator[tuple[Segment, bytes]],
    tail: Path,
    layout: mpegts.Layout,
) -> tuple[list[float], tuple[PacketRun, ...]]:
    """Write head, middle and tail as one stream, counters renumbered; the middle's
    frames' wall times (from each segment's anchor and its PES timestamps) and its
    packets' provenance (each segment's video packets, whole)."""
    counters: dict[int, int] = {}
    walls: list[float] = []
    runs = RunRecorder()
    with open(output, "wb") as out:
        out.write(_renumbered(head.read_bytes(), counters))
        for segment, data in middle:
            buffer = bytearray(data)
            view = mpegts.packet_view(buffer)
            mpegts.renumber(view, counters)
            out.write(buffer)
            stamps = [pts for pts, _ in mpegts.video_timestamps(view, layout)]
            runs.add_segment(segment.url, len(stamps))
            if stamps:
                # The segment's anchor is its earliest frame; 33-bit wraps undone.
                offsets = [_signed(p - stamps[0]) for p in stamps]
                low = min(offsets)
                anchor = segment.start.timestamp()
                walls += [anchor + (o - low) / _TICKS for o in offsets]
        out.write(_renumbered(tail.read_bytes(), counters))
    walls.sort()
    return walls, runs.runs()


def _signed(delta: int) -> int:
    """A difference of 33-bit timestamps, as the nearer of its two readings."""
    delta %= _WRAP
    return delta - _WRAP if delta >= _WRAP // 2 else delta


def _renumbered(data: bytes, counters: dict[int, int]) -> bytes:
    buffer = bytearray(data)
    mpegts.renumber(mpegts.packet_view(buffer), counters)
    return bytes(buffer)
