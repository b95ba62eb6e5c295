"""Stream-copy clips from wall-clock-timed packets.

A clip is cut without decoding, so it can only begin at a keyframe. To still
cover exactly the requested interval, the clip begins at the keyframe at or
before ``start``; MP4/MOV then give the frames before ``start`` negative
timestamps, which the mov muxer turns into an edit list, so players start at
the frame displayed at ``start``. MKV, MPEG-TS and AVI have no portable way to
hide leading frames, so their files start at the keyframe and the reported
first-frame time says so.

Timestamps in the output are wall time minus the file's origin, so a player's
clock inside the file runs like the camera's. Files are split where the
source's ``run`` changes (archive gap, live reconnect) and, with a size limit,
at video keyframes, so every part plays alone and no frame is in two parts.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from fractions import Fraction
from pathlib import Path
from typing import Any, Protocol

import av

from vexport.media import nal
from vexport.media.control import JobControl
from vexport.media.formats import error_text
from vexport.media.packets import (
    DEFAULT_FRAME_SECONDS,
    WALL_EPSILON,
    StreamKind,
    TimedPacket,
    wall_datetime,
)
from vexport.media.plan import ContainerFormat, ExportFailed, ProducedFile
from vexport.media.provenance import RunRecorder
from vexport.media.templates import StreamTemplate

log = logging.getLogger(__name__)

CLIP_CONTAINERS = (
    ContainerFormat.MP4,
    ContainerFormat.MOV,
    ContainerFormat.MKV,
    ContainerFormat.MPEG_TS,
    ContainerFormat.AVI,
)
_EDIT_LIST_CONTAINERS = (ContainerFormat.MP4, ContainerFormat.MOV)
_AVI_ADTS_TAG = "\x10\x16\x00\x00"  # 0x1610, WAVE_FORMAT_MPEG_HEAAC


@dataclass(frozen=True)
class ClipRequest:
    """What to cut; times are POSIX seconds.

    ``start`` None starts at the first keyframe (live). ``end`` None runs until
    the input ends or a stop is requested, unless ``duration`` (seconds after
    the first keyframe, live) bounds it.
    """

    start: float | None = None
    end: float | None = None
    duration: float | None = None


@dataclass
class _Unit:
    """A group of pictures: a video keyframe and everything after it up to the next one.

    Units are the atoms of splitting: a part boundary always falls between two.
    ``shown_from`` is set on the first unit of a clip: the wall time of the
    frame displayed at the requested start.
    """

    run: int
    keyframe_wall: float
    packets: list[TimedPacket] = field(default_factory=list)
    starts_run: bool = False
    shown_from: float | None = None


class _Selector:
    """Turns the packet stream into units covering the request, in stream order.

    ``continues``: the packets go on from a stream written before them (the middle
    of an MPEG-TS passthrough), so what leads the first keyframe is kept.
    """

    def __init__(
        self, request: ClipRequest, control: JobControl | None, *, continues: bool = False
    ) -> None:
        self.request = request
        self.control = control
        self.continues = continues
        self.start = request.start
        self.end = request.end

    def units(self, packets: Iterable[TimedPacket]) -> Iterator[_Unit]:
        unit: _Unit | None = None
        run: int | None = None
        emitted = False
        pending_video: list[TimedPacket] = []  # pts > end, may still be needed as references
        pending_audio: list[TimedPacket] = []  # pts > end, kept if before the last frame's end
        last_video: TimedPacket | None = None
        video_done_at: float | None = None  # end of the last kept frame, once known

        def finish_video() -> None:
            nonlocal video_done_at
            video_done_at = self._video_end(last_video)
            if unit is not None:
                unit.packets.extend(p for p in pending_audio if p.wall_pts < video_done_at)
            pending_audio.clear()
            pending_video.clear()

        for tp in packets:
            if self.control is not None and self.control.stop_requested():
                break
            if video_done_at is not None:
                # Only audio that plays before the last frame ends is still wanted.
                if tp.wall_dts >= video_done_at or tp.run != run:
                    break
                if tp.kind == "audio" and unit is not None and tp.wall_pts < video_done_at:
                    unit.packets.append(tp)
                continue
            if tp.run != run:
                if unit is not None:
                    finish_video()
                    video_done_at = None
                    if emitted or not self._before_start(last_video):
                        emitted = True
                        yield unit
                    unit = None
                last_video = None
                run = tp.run
            if tp.kind == "video":
                if self.end is not None and tp.wall_dts > self.end + WALL_EPSILON:
                    finish_video()
                    continue
                after_end = self.end is not None and tp.wall_pts > self.end + WALL_EPSILON
                if tp.is_keyframe and after_end:
                    # Shown after the end: kept only if a leading picture shown by the end
                    # (an open GOP) turns out to need it.
                    pending_video.append(tp)
                    continue
                if tp.is_keyframe:
                    if unit is not None and not self._replaces_preroll(tp, emitted):
                        emitted = True
                        yield unit
                    unit = _Unit(
                        run=tp.run,
                        keyframe_wall=tp.wall_pts,
                        starts_run=unit is None or not emitted,
                    )
                    if self.start is None:
                        self.start = tp.wall_pts
                        if self.request.duration is not None:
                            self.end = tp.wall_pts + self.request.duration
                elif unit is None:
                    continue  # nothing decodable before the first keyframe of a run
                elif (
                    unit.starts_run
                    and not self.continues
                    and tp.wall_pts < unit.keyframe_wall - WALL_EPSILON
                ):
                    continue  # a leading picture: it needs the GOP before, which is not here
                if self.end is not None and tp.wall_pts > self.end + WALL_EPSILON:
                    pending_video.append(tp)
                    continue
                unit.packets.extend(pending_video)
                pending_video.clear()
                unit.packets.append(tp)
                if last_video is None or tp.wall_pts >= last_video.wall_pts:
                    last_video = tp
            else:
                if unit is None:
                    continue
                if (
                    unit.starts_run
                    and not self.continues
                    and tp.wall_pts < unit.keyframe_wall - WALL_EPSILON
                ):
                    continue  # audio from before the cut point
                if self.end is not None and tp.wall_pts > self.end + WALL_EPSILON:
                    pending_audio.append(tp)
                    continue
                unit.packets.append(tp)
        if unit is not None:
            if video_done_at is None:
                finish_video()
            if emitted or not self._before_start(last_video):
                yield unit

    def _before_start(self, last_video: TimedPacket | None) -> bool:
        """A run that ends before ``start`` (a gap covers ``start``) shows nothing wanted."""
        if last_video is None:
            return True
        start = self.request.start
        return start is not None and self._video_end(last_video) <= start

    def _replaces_preroll(self, keyframe: TimedPacket, emitted: bool) -> bool:
        """A later keyframe still at or before ``start`` makes the unit before it useless."""
        return (
            not emitted
            and self.request.start is not None
            and keyframe.wall_pts <= self.request.start + WALL_EPSILON
        )

    @staticmethod
    def _video_end(last_video: TimedPacket | None) -> float:
        if last_video is None:
            return -math.inf
        return last_video.wall_pts + (last_video.duration or DEFAULT_FRAME_SECONDS)


def _shown_from(unit: _Unit, start: float | None) -> float:
    """Wall time of the frame displayed at ``start``: the last one at or before it."""
    if start is None or unit.keyframe_wall >= start - WALL_EPSILON:
        return unit.keyframe_wall
    shown = [
        tp.wall_pts
        for tp in unit.packets
        if tp.kind == "video"
        and tp.wall_pts <= start + WALL_EPSILON
        and tp.wall_pts >= unit.keyframe_wall
    ]
    return max(shown, default=unit.keyframe_wall)


class _SizeModel:
    """Upper estimate of a file's size from its payload, per container.

    Muxers buffer and write indexes at the end (moov, cues, idx1), so the size
    on disk during writing says little; instead each container's overhead is
    bounded from its layout and checked against real files in the tests.
    """

    def __init__(
        self, container: ContainerFormat, templates: dict[StreamKind, StreamTemplate]
    ) -> None:
        self.container = container
        extradata = sum(len(t.extradata) for t in templates.values())
        fixed = {
            ContainerFormat.MP4: 2048,
            ContainerFormat.MOV: 2048,
            ContainerFormat.MKV: 4096,
            ContainerFormat.MPEG_TS: 8 * 188,
            ContainerFormat.AVI: 12288 + 4200 * len(templates),
        }[container]
        self.fixed = fixed + 2 * extradata

    def packet(self, tp: TimedPacket) -> int:
        size: int = tp.packet.size
        if self.container is ContainerFormat.MPEG_TS:
            # 184 payload bytes per 188-byte TS packet, each frame its own PES (header and
            # stuffing); PAT/PMT/SDT and PCR-only packets add ~3.6 kB a second, charged
            # to video frames by their duration.
            tables = 0
            if tp.kind == "video":
                tables = round(4000 * max(tp.duration, DEFAULT_FRAME_SECONDS)) + (
                    376 if tp.is_keyframe else 0
                )
            return math.ceil((size + 30) / 184) * 188 + tables
        is_keyframe = tp.is_keyframe
        per_packet = {
            # stsz/stts/ctts/stco entries: at most ~28 bytes a sample.
            ContainerFormat.MP4: 32,
            ContainerFormat.MOV: 32,
            # SimpleBlock header; a cluster and a cue point per keyframe.
            ContainerFormat.MKV: 16 + (48 if is_keyframe else 0),
            # Chunk header and padding, idx1 and OpenDML index entries.
            ContainerFormat.AVI: 34,
        }[self.container]
        return size + per_packet

    def unit(self, unit: _Unit) -> int:
        return sum(self.packet(tp) for tp in unit.packets)


@dataclass(frozen=True)
class Muxing:
    """How a file joins others (an MPEG-TS passthrough writes its first and last parts so).

    ``origin``: the wall time of output time 0 (else the first frame's); the
    source's own clock, so that the parts' timestamps continue the copied
    segments'. ``stream_ids``: the output streams' ids (MPEG-TS PIDs).
    ``options``: the muxer's (program and PMT numbers, mux delay). ``continues``:
    the packets go on from what was written before them, nothing is dropped as
    leading the first keyframe.
    """

    origin: float | None = None
    stream_ids: dict[StreamKind, int] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)
    continues: bool = False


class LeadingPictures(Protocol):
    """(the GOP before, a keyframe, its leading pictures) -> the pictures encoded anew,
    or None when no part can start at that keyframe (the writer then does not split).

    The packets returned show what the leading pictures showed, decode after the
    GOP before, and need nothing after it.
    """

    def __call__(
        self, previous: list[TimedPacket], keyframe: TimedPacket, leading: list[TimedPacket]
    ) -> list[TimedPacket] | None: ...


class ContainerCannotHold(ExportFailed):
    """The asked container cannot carry the source's codec as it is (H.265 in AVI)."""

    def __init__(self, container: ContainerFormat, codec: str) -> None:
        super().__init__(f"{container.name} cannot hold {codec} video")
        self.container = container
        self.codec = codec


class _Part:
    """One output file being written."""

    def __init__(
        self,
        path: Path,
        container: ContainerFormat,
        templates: dict[StreamKind, StreamTemplate],
        origin: float,
        audio_from: float | None,
        muxing: Muxing | None = None,
    ) -> None:
        self.path = path
        self.origin = origin
        self.audio_from = audio_from
        self.first_shown: float | None = None
        self.last_shown: float | None = None
        self.bytes_estimate = 0
        self.shown: list[tuple[float, bool]] = []  # (wall pts, re-encoded) of each video frame
        self.copied_crcs: list[int] = []  # of a smart cut's copied packets, for its seam check
        self.runs = RunRecorder()  # where each video packet came from (media/provenance.py)
        self._last_dts: dict[StreamKind, int] = {}
        # MP4/MOV: the index (moov) before the media, so a browser plays while downloading.
        options = {"movflags": "+faststart"} if container in _EDIT_LIST_CONTAINERS else {}
        if muxing is not None:
            options.update(muxing.options)
        self._output = av.open(str(path), "w", format=container.muxer, options=options)
        # When the first frame was captured (mvhd/tkhd, Matroska DateUTC).
        self._output.metadata["creation_time"] = _iso(origin)
        self._streams: dict[StreamKind, Any] = {}
        # AVI carries H.264/H.265 with start codes: length-prefixed packets (from MP4-style
        # sources) are converted, with the parameter sets in front of each keyframe.
        self._to_annex_b: tuple[str, int, bytes] | None = None
        try:
            for kind, template in templates.items():
                try:
                    stream = self._output.add_stream_from_template(template.stream, opaque=True)
                except ValueError as exc:  # the container cannot hold the codec
                    raise ContainerCannotHold(container, template.codec_name) from exc
                if muxing is not None and kind in muxing.stream_ids:
                    stream.id = muxing.stream_ids[kind]
                extradata = template.output_extradata
                framing = nal.framing(template.codec_name, extradata or template.extradata)
                if container is ContainerFormat.AVI and kind == "video" and framing:
                    sets = nal.parameter_sets(template.codec_name, extradata or template.extradata)
                    extradata = nal.annexb(sets)
                    self._to_annex_b = (template.codec_name, framing, extradata)
                if extradata is not None:
                    stream.codec_context.extradata = extradata
                if container is ContainerFormat.AVI and kind == "video":
                    # AVI counts frames: its time base must be one frame, or the muxer
                    # pads every tick between two frames with an empty chunk.
                    stream.time_base = 1 / (template.rate or Fraction(25))
                if container in _EDIT_LIST_CONTAINERS and template.codec_name == "hevc":
                    # Apple players play H.265 in MP4/MOV only under the hvc1 tag; a smart
                    # cut's in-band parameter sets need hev1.
                    stream.codec_context.codec_tag = template.output_codec_tag or "hvc1"
                if (
                    container is ContainerFormat.AVI
                    and template.codec_name == "aac"
                    and not template.extradata
                ):
                    # AAC from MPEG-TS keeps its ADTS headers; AVI carries that only
                    # under the ADTS wave tag.
                    stream.codec_context.codec_tag = _AVI_ADTS_TAG
                self._streams[kind] = stream
            # Write the header now: muxers settle their streams' time bases there, and
            # every packet is timed in its stream's final time base (one clock for all).
            self._output.start_encoding()
            self._time_bases = {  # (time base, ticks a second): floats, not Fractions
                kind: (stream.time_base, float(1 / stream.time_base))
                for kind, stream in self._streams.items()
            }
        except BaseException:
            self._output.close()
            raise

    def write(self, tp: TimedPacket) -> None:
        stream = self._streams.get(tp.kind)
        if stream is None:
            return  # a track that appeared after the file began; the muxer cannot add it now
        if tp.kind == "audio" and self.audio_from is not None and tp.wall_pts < self.audio_from:
            return
        packet = tp.packet
        if self._to_annex_b is not None and tp.kind == "video":
            packet = self._annex_b(tp)
        time_base, ticks = self._time_bases[tp.kind]
        pts = round((tp.wall_pts - self.origin) * ticks)
        dts = round((tp.wall_dts - self.origin) * ticks)
        last = self._last_dts.get(tp.kind)
        if last is not None and dts <= last:
            dts = last + 1  # rounding of wall times must not break monotonic decode order
        pts = max(pts, dts)
        self._last_dts[tp.kind] = dts
        packet.time_base = time_base
        packet.pts = pts
        packet.dts = dts
        packet.duration = round(tp.duration * ticks) if tp.duration else 0
        packet.stream = stream
        self._output.mux(packet)
        if tp.kind == "video":
            self.shown.append((tp.wall_pts, tp.reencoded))
            self.runs.add(tp)
            if tp.template is not None and not tp.reencoded:
                template = tp.template
                framing = nal.framing(template.codec_name, template.extradata)
                self.copied_crcs.append(
                    nal.picture_crc(template.codec_name, bytes(tp.packet), framing)
                )
            if tp.wall_pts >= self.origin - WALL_EPSILON and (
                self.first_shown is None or tp.wall_pts < self.first_shown
            ):
                self.first_shown = tp.wall_pts
            if self.last_shown is None or tp.wall_pts > self.last_shown:
                self.last_shown = tp.wall_pts

    def _annex_b(self, tp: TimedPacket) -> Any:
        assert self._to_annex_b is not None
        _codec, framing, sets = self._to_annex_b
        data = nal.annexb(nal.split(bytes(tp.packet), framing))
        packet = av.Packet((sets if tp.is_keyframe else b"") + data)
        packet.is_keyframe = tp.is_keyframe
        return packet

    def close(self) -> None:
        self._output.close()

    def discard(self) -> None:
        """Close after a failure and remove the unfinished file."""
        with contextlib.suppress(av.FFmpegError):
            self._output.close()
        self.path.unlink(missing_ok=True)


class ClipWriter:
    """Writes one source's clip as one or more files.

    Use :meth:`write` once; it returns the files in order. Stop requests end
    the clip at the last complete packet read: the current file is finalised
    and returned like any other.
    """

    def __init__(
        self,
        *,
        origin: str,
        container: ContainerFormat,
        output_dir: Path,
        file_prefix: str,
        max_file_size: int = 0,
        control: JobControl | None = None,
        edit_list: bool = True,
        leading: LeadingPictures | None = None,
        muxing: Muxing | None = None,
    ) -> None:
        if container not in CLIP_CONTAINERS:
            raise ExportFailed(f"{container.value} is not a video clip format")
        self.origin = origin
        self.container = container
        self.output_dir = output_dir
        self.file_prefix = file_prefix
        self.max_file_size = max_file_size
        self.control = control
        self.edit_list = edit_list and container in _EDIT_LIST_CONTAINERS
        self.leading = leading
        self.muxing = muxing

    def write(self, packets: Iterable[TimedPacket], request: ClipRequest) -> list[ProducedFile]:
        selector = _Selector(
            request, self.control, continues=self.muxing is not None and self.muxing.continues
        )
        templates: dict[StreamKind, StreamTemplate] = {}
        produced: list[ProducedFile] = []
        part: _Part | None = None
        model: _SizeModel | None = None
        warned = False

        def close_part() -> None:
            nonlocal part
            if part is None:
                return
            current, part = part, None
            current.close()
            produced.append(self._produced(current))

        def seen(stream_packets: Iterable[TimedPacket]) -> Iterator[TimedPacket]:
            # The first stream of each kind is the template of the output streams.
            for tp in stream_packets:
                if tp.kind not in templates:
                    templates[tp.kind] = tp.template or StreamTemplate(tp.stream)
                yield tp

        try:
            previous: _Unit | None = None
            for unit in selector.units(seen(packets)):
                if unit.starts_run and unit.shown_from is None and not produced and part is None:
                    unit.shown_from = _shown_from(unit, request.start)
                if model is None:
                    model = _SizeModel(self.container, templates)
                unit_size = model.unit(unit)
                # An open GOP's leading pictures go back to the part before when a part
                # starts at its keyframe: keep room for about as many there.
                reserve = 2 * sum(model.packet(tp) for tp in _leading(unit))
                split = (
                    part is not None
                    and not unit.starts_run
                    and self.max_file_size > 0
                    and part.bytes_estimate + unit_size + reserve > self.max_file_size
                )
                if (
                    split
                    and part is not None
                    and previous is not None
                    and not self._move_leading(unit, previous, part)
                ):
                    split = False  # no clean place to start a part: this one grows on
                if part is not None and (unit.starts_run or split):
                    close_part()
                if part is None:
                    part = self._open_part(len(produced) + 1, unit, templates)
                    part.bytes_estimate = model.fixed
                    oversized = model.fixed + unit_size > self.max_file_size
                    if self.max_file_size > 0 and oversized and not warned:
                        warned = True
                        log.warning(
                            "%s: a group of pictures (%d bytes) exceeds the file size limit"
                            " (%d bytes); such groups get parts of their own, over the limit",
                            self.origin,
                            unit_size,
                            self.max_file_size,
                        )
                for tp in unit.packets:
                    part.write(tp)
                part.bytes_estimate += unit_size
                self._report(selector, part)
                previous = unit
        except av.FFmpegError as exc:
            if part is not None:
                part.discard()
                part = None
            raise ExportFailed(
                f"writing {self.container.value} for {self.origin} failed: {error_text(exc)}"
            ) from exc
        finally:
            close_part()
        return produced

    def _move_leading(self, unit: _Unit, previous: _Unit, part: _Part) -> bool:
        """A part is about to start at ``unit``'s keyframe: its leading pictures (shown
        before it, referring to ``previous``) cannot decode there, so they are encoded
        anew at the end of ``part``, where they are shown. False: no part may start
        there (``LeadingPictures`` declined)."""
        leading = _leading(unit)
        if not leading:
            return True
        if self.leading is None:
            return False
        keyframe = next(tp for tp in unit.packets if tp.kind == "video")
        previous_video = [tp for tp in previous.packets if tp.kind == "video"]
        encoded = self.leading(previous_video, keyframe, leading)
        if encoded is None:
            return False
        for tp in encoded:
            part.write(tp)
        dropped = {id(tp) for tp in leading}
        unit.packets = [tp for tp in unit.packets if id(tp) not in dropped]
        return True

    def _open_part(
        self, number: int, unit: _Unit, templates: dict[StreamKind, StreamTemplate]
    ) -> _Part:
        self.output_dir.mkdir(parents=True, exist_ok=True)
        path = self.output_dir / f"{self.file_prefix}_{number:03d}.{self.container.value}"
        origin = unit.keyframe_wall
        audio_from: float | None = None
        if unit.starts_run:
            audio_from = unit.keyframe_wall - WALL_EPSILON
        if unit.shown_from is not None and self.edit_list:
            origin = unit.shown_from
            audio_from = unit.shown_from - WALL_EPSILON
        if self.muxing is not None:
            if self.muxing.origin is not None:
                origin = self.muxing.origin
            if self.muxing.continues:
                audio_from = None
        return _Part(path, self.container, templates, origin, audio_from, self.muxing)

    def _produced(self, part: _Part) -> ProducedFile:
        first = part.first_shown if part.first_shown is not None else part.origin
        last = part.last_shown if part.last_shown is not None else first
        shown = sorted(part.shown)
        reencoded = sum(1 for _, again in shown if again)
        return ProducedFile(
            path=part.path,
            origin=self.origin,
            first_frame=wall_datetime(first),
            last_frame=wall_datetime(last),
            mime_type=self.container.mime_type,
            frames_copied=len(shown) - reencoded,
            frames_reencoded=reencoded,
            reencoded_ranges=_stretches(shown),
            frames=tuple(shown),
            copied_crcs=tuple(part.copied_crcs),
            provenance=part.runs.runs(),
        )

    def _report(self, selector: _Selector, part: _Part) -> None:
        if self.control is None or part.last_shown is None:
            return
        fraction = 0.0
        start, end = selector.start, selector.end
        if start is not None and end is not None and end > start:
            fraction = min(1.0, max(0.0, (part.last_shown - start) / (end - start)))
        self.control.report_progress(fraction, wall_datetime(part.last_shown))


def _iso(wall: float) -> str:
    return wall_datetime(wall).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _leading(unit: _Unit) -> list[TimedPacket]:
    """The leading pictures of a unit's keyframe: decoded after it, shown before it."""
    video = [tp for tp in unit.packets if tp.kind == "video"]
    if not video or not video[0].is_keyframe:
        return []
    keyframe = video[0]
    return [tp for tp in video[1:] if tp.wall_pts < keyframe.wall_pts - WALL_EPSILON]


def _stretches(shown: list[tuple[float, bool]]) -> tuple[tuple[datetime, datetime], ...]:
    """First and last time of each run of re-encoded frames among ``shown`` (sorted)."""
    ranges: list[tuple[datetime, datetime]] = []
    begin: float | None = None
    previous = 0.0
    for wall, again in [*shown, (math.inf, False)]:
        if again and begin is None:
            begin = wall
        elif not again and begin is not None:
            ranges.append((wall_datetime(begin), wall_datetime(previous)))
            begin = None
        previous = wall
    return tuple(ranges)


def write_clip(
    packets: Iterable[TimedPacket],
    request: ClipRequest,
    *,
    origin: str,
    container: ContainerFormat,
    output_dir: Path,
    file_prefix: str,
    max_file_size: int = 0,
    control: JobControl | None = None,
    edit_list: bool = True,
    leading: LeadingPictures | None = None,
    muxing: Muxing | None = None,
) -> list[ProducedFile]:
    """Cut ``packets`` to ``request`` into ``{file_prefix}_{part:03d}.{ext}`` files.

    ``edit_list``: MP4/MOV hide the frames between the first keyframe and
    ``request.start`` with an edit list (else they are shown). ``leading``
    re-encodes an open GOP's leading pictures where a size limit splits there
    (``SmartCutter.leading_pictures``); without it no part starts at such a GOP.
    """
    writer = ClipWriter(
        origin=origin,
        container=container,
        output_dir=output_dir,
        file_prefix=file_prefix,
        max_file_size=max_file_size,
        control=control,
        edit_list=edit_list,
        leading=leading,
        muxing=muxing,
    )
    return writer.write(packets, request)
