"""Smart cut: frame-exact clips that copy every frame but those of the partial GOPs at the ends.

A stream copy can only start on a keyframe. To start on the asked frame S
anyway, the frames from S up to the next keyframe K1 are decoded and encoded
again with the source's codec and parameters (a new keyframe at S), and
everything from K1 on is copied. With an open GOP, K1's leading pictures
(decoded after K1, shown before it, referring to the GOP before) are shown
before K1, so they belong to the re-encoded head and are dropped from the
copy. At the end, a copy through the last frame shown by ``end`` (E) would
also show the references decoded before it but shown after E (a P-frame
after a run of B-frames); then the copy stops at the last packet, in decode
order, that shows nothing after E, and the frames of E's GOP after that
point are re-encoded as a short tail.

The joined stream must decode with one decoder. H.264: the re-encoded
frames get parameter sets with their own id (``sps-id``), and the output's
avcC (or in-band headers, for MPEG-TS) lists both the camera's and ours.
H.265: x265 cannot choose ids, so the parameter sets travel in-band at every
seam (the camera's are put back in front of the first copied keyframe) and
MP4/MOV declare ``hev1``. Re-encoded packets are timed like the frames they
replace (their presentation times are the source's), and their decode times
are moved early enough that decode order stays monotonic at the seams.

The runner checks the written files (``verify_clip``) and falls back to a full
re-encode when a seam does not decode to the expected frames.
"""

from __future__ import annotations

import logging
import math
from bisect import bisect_left
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any

import av

from vexport.media import nal
from vexport.media.decoding import Decoded, WallDecoder
from vexport.media.encoding import KEYFRAME_INTERVAL
from vexport.media.packets import WALL_EPSILON, TimedPacket
from vexport.media.plan import ExportFailed
from vexport.media.templates import StreamTemplate
from vexport.media.timeline import shown_by

__all__ = ["SMART_CUT_CODECS", "SmartCutUnavailable", "SmartCutter"]

log = logging.getLogger(__name__)

SMART_CUT_CODECS = {"h264": "libx264", "hevc": "libx265"}
"""Codecs whose partial GOPs can be re-encoded to match the copied ones."""

_TICKS = 90_000
_TICK = Fraction(1, _TICKS)
# Quality of the re-encoded frames: a few dozen frames at most, next to copied ones, so
# they are encoded above the usual camera quality. x264's veryfast (40-100 ms a 1080p
# frame on two cores) rather than superfast (30-70 ms): superfast's frames are twice as
# big at the same quality, and a size-limited part must still hold a re-encoded GOP.
_CRF = {"h264": "17", "hevc": "20"}
_PRESET = {"h264": "veryfast", "hevc": "superfast"}
# The re-encoded frames have no B-frames: their decode order is their display order, so
# they fit before and after copied frames whatever the camera's reordering.
_BFRAMES = 0
_MAX_HEAD_SECONDS = 12.0
"""How far past S the copy may resume (the next IDR); further, the clip is re-encoded."""
_H264_IDR = 5
_HEVC_END_OF_SEQUENCE = b"\x48\x01"  # NAL unit type 36
_SEAM_MARGIN = 0.001  # seconds of decode time between the last re-encoded and first copied packet
_PROFILES = {
    "Baseline": "baseline",
    "Constrained Baseline": "baseline",
    "Main": "main",
    "Extended": "main",
    "High": "high",
    "High 10": "high10",
    "High 4:2:2": "high422",
    "High 4:4:4 Predictive": "high444",
    "Main 10": "main10",
    "Main Still Picture": "mainstillpicture",
}


class SmartCutUnavailable(ExportFailed):
    """This source cannot be smart cut; the runner re-encodes the whole clip instead."""

    def __init__(self, codec: str, reason: str | None = None) -> None:
        super().__init__(reason or f"smart cut does not encode {codec}")
        self.codec = codec


class _Encoder:
    """Encodes frames in the source's codec and parameters; one instance per seam.

    Every instance of one cut has the same settings, so the same parameter
    sets: the output declares them once, before any frame is written.
    """

    def __init__(self, template: StreamTemplate, sps_id: int) -> None:
        codec = template.codec_name
        if codec not in SMART_CUT_CODECS:
            raise SmartCutUnavailable(codec)
        self.template = template
        self.codec = codec
        context: Any = av.CodecContext.create(SMART_CUT_CODECS[codec], "w")
        context.width, context.height = template.width, template.height
        context.pix_fmt = template.pix_fmt or "yuv420p"
        context.time_base = _TICK
        context.framerate = template.rate or Fraction(25)
        if template.sample_aspect_ratio and template.sample_aspect_ratio != 1:
            # Square pixels are what an unsaid aspect means: say only another one.
            context.sample_aspect_ratio = template.sample_aspect_ratio
        color_range, matrix, primaries, trc = template.color
        context.color_range, context.colorspace = color_range, matrix
        context.color_primaries, context.color_trc = primaries, trc
        bframes = _BFRAMES
        # Keyframes as often as the re-encoder puts them, so a long stretch still splits.
        keyint = max(1, round(float(context.framerate) * KEYFRAME_INTERVAL))
        options = {"preset": _PRESET[codec], "crf": _CRF[codec]}
        profile = _PROFILES.get(template.profile or "")
        if codec == "h264":
            params = (
                f"sps-id={sps_id}:bframes={bframes}:scenecut=0:keyint={keyint}:repeat-headers=1"
            )
            if profile:
                options["profile"] = profile
            if template.level:
                options["level"] = f"{template.level / 10:.1f}"
            options["x264-params"] = params
        else:
            params = (
                f"log-level=error:bframes={bframes}:keyint={keyint}:scenecut=0:repeat-headers=1"
            )
            if profile and profile.startswith("main"):
                options["profile"] = profile
            options["x265-params"] = params
        context.options = options
        self._context = context
        self._step = max(1, round(_TICKS / float(context.framerate)))

    def encode(self, frames: list[Decoded]) -> list[tuple[float, float, bool, bytes]]:
        """(wall pts, wall dts, keyframe, Annex B data) of the encoded frames, in decode order.

        The encoder sees frame numbers, not wall times: the same frames then encode to
        the same bytes whatever rounding their times went through (a remux through
        FFmpeg for the audio, say); each packet gets its frame's own wall time back.
        """
        if not frames:
            return []
        walls = [decoded.wall for decoded in frames]
        step = self._step
        out: list[Any] = []
        for index, decoded in enumerate(frames):
            frame = decoded.frame
            if frame.format.name != self._context.pix_fmt:
                frame = frame.reformat(format=self._context.pix_fmt)
            frame.pts = index * step
            frame.time_base = _TICK
            frame.pict_type = av.video.frame.PictureType.NONE  # the encoder decides
            out.extend(self._context.encode(frame))
        out.extend(self._context.encode(None))
        frame_seconds = step / _TICKS

        def wall(ticks: int) -> float:
            index, rest = divmod(ticks, step)
            if 0 <= index < len(walls):
                return walls[index] + rest / _TICKS
            return walls[0] + ticks / _TICKS if index < 0 else walls[-1] + frame_seconds

        return [
            (
                wall(p.pts),
                wall(p.dts if p.dts is not None else p.pts),
                bool(p.is_keyframe),
                bytes(p),
            )
            for p in out
        ]

    def parameter_sets(self) -> list[bytes]:
        """The parameter sets this encoder writes (from one throwaway frame)."""
        frame = av.VideoFrame(self.template.width, self.template.height, self._context.pix_fmt)
        for plane in frame.planes:
            plane.update(bytes(plane.buffer_size))
        encoded = self.encode([Decoded(wall=0.0, frame=frame)])
        wanted = nal.HEVC_PARAMETER_SETS if self.codec == "hevc" else (nal.H264_SPS, nal.H264_PPS)
        return [
            n
            for _, _, _, data in encoded
            for n in nal.split(data, nal.ANNEX_B)
            if nal.nal_type(self.codec, n) in wanted
        ]


@dataclass
class _Run:
    """The state of one contiguous run of the source being cut."""

    number: int
    keyframe: TimedPacket | None = None
    shown_from: float | None = None  # S: the first frame to show, once known
    previous_gop: list[TimedPacket] = field(default_factory=list)  # video, for decoding


class SmartCutter:
    """Cuts a copy-selected packet stream to exactly [start, end]; iterate ``packets`` once.

    The input is what the archive reader gives a copy: from the keyframe at or
    before the frame shown at ``start``, in decode order, through what ``end``
    needs. The output starts with a keyframe showing the frame shown at
    ``start`` and ends with the frame shown at ``end``; packets it encoded are
    marked ``reencoded`` and every video packet carries the output template.
    ``start``/``end`` None: that end is not cut (a run's own start or end).
    ``strict``: raise ``SmartCutUnavailable`` where the clip cannot be cut without
    re-encoding it whole (an archive export can); else go on as well as possible.
    """

    def __init__(self, start: float | None, end: float | None, *, strict: bool = True) -> None:
        self.start = start
        self.end = end
        self.strict = strict
        self.codec: str | None = None  # the source's, once its first keyframe is seen
        self._template: StreamTemplate | None = None
        self._sps_id = 1
        self._framing = nal.ANNEX_B  # of the source's packets, once known
        self._source_sets: list[bytes] = []
        self._seen_runs = 0

    # -- the stream ------------------------------------------------------------------------

    def packets(self, source: Iterable[TimedPacket]) -> Iterator[TimedPacket]:
        upstream = iter(source)
        pending: list[TimedPacket] = []
        while True:
            first = pending.pop() if pending else next(upstream, None)
            if first is None:
                return
            run = _Run(first.run)
            carry: list[TimedPacket] = []
            yield from self._cut_run(run, _until_run_changes(first, upstream, carry))
            self._seen_runs += 1
            if not carry:
                return
            pending = carry

    def _cut_run(self, run: _Run, packets: Iterator[TimedPacket]) -> Iterator[TimedPacket]:
        start = self.start if self._seen_runs == 0 else None
        head: list[TimedPacket] = []
        for tp in packets:
            if run.keyframe is None:
                if tp.kind != "video" or not tp.is_keyframe:
                    continue  # nothing before a run's first keyframe decodes
                run.keyframe = tp
                self._prepare(tp)
            head.append(tp)
            if start is None or start <= run.keyframe.wall_pts + WALL_EPSILON:
                run.shown_from = run.keyframe.wall_pts
                break
            if tp.kind == "video" and tp.wall_dts > start + WALL_EPSILON:
                break  # every frame shown by start has been decoded: S is known
        if run.keyframe is None:
            return
        if run.shown_from is None:
            assert start is not None
            shown = [p.wall_pts for p in head if p.kind == "video" and shown_by(p.wall_pts, start)]
            run.shown_from = max(shown, default=run.keyframe.wall_pts)
        if abs(run.shown_from - run.keyframe.wall_pts) <= WALL_EPSILON:
            yield from self._copy(run, _chain(_without_leading(head, run.keyframe), packets))
        else:
            yield from self._head(run, head, packets)

    # -- the head --------------------------------------------------------------------------

    def _head(
        self, run: _Run, head: list[TimedPacket], packets: Iterator[TimedPacket]
    ) -> Iterator[TimedPacket]:
        """Re-encode S up to K1 (the next keyframe) and go on copying from K1."""
        assert run.keyframe is not None and run.shown_from is not None
        end = self.end
        k1: TimedPacket | None = None
        rest: list[TimedPacket] = []  # the packet that ended the head, copied after K1
        for tp in packets:
            if tp.kind == "video":
                if k1 is None:
                    if end is not None and tp.wall_dts > end + WALL_EPSILON:
                        rest.append(tp)
                        break  # the clip ends before the next keyframe
                    if tp.is_keyframe and self._resumes_copy(tp):
                        k1 = tp
                    elif tp.wall_dts - run.shown_from > _MAX_HEAD_SECONDS:
                        raise SmartCutUnavailable(
                            self.codec or "",
                            f"no IDR frame within {_MAX_HEAD_SECONDS:g} s of the start to resume"
                            " copying at (an open-GOP H.264 recording)",
                        )
                elif tp.wall_pts > k1.wall_pts + WALL_EPSILON:
                    rest.append(tp)
                    break  # K1's leading pictures are all in
            head.append(tp)
        video = [p for p in head if p.kind == "video"]
        audio = [p for p in head if p.kind == "audio"]
        if k1 is not None and (end is None or shown_by(k1.wall_pts, end)):
            wanted = [
                p
                for p in video
                if run.shown_from - WALL_EPSILON <= p.wall_pts < k1.wall_pts - WALL_EPSILON
            ]
        else:
            k1 = None
            last = end if end is not None else max(p.wall_pts for p in video)
            wanted = [
                p
                for p in video
                if run.shown_from - WALL_EPSILON <= p.wall_pts <= last + WALL_EPSILON
            ]
        frames = _pick(_decode(self._template, video, wanted, self._framing), wanted)
        yield from _merge(self._encode(frames, run.number, before=k1), audio)
        if k1 is None:
            # The whole clip of this run was re-encoded; what follows is past its end.
            yield from (tp for tp in _chain(rest, packets) if tp.kind == "audio")
            return
        run.previous_gop = [p for p in video if p.wall_dts < k1.wall_dts - WALL_EPSILON]
        yield from self._copy(run, _chain([self._first_copied(k1)], _chain(rest, packets)))

    def _resumes_copy(self, keyframe: TimedPacket) -> bool:
        """Whether copying may resume at ``keyframe`` after re-encoded frames.

        H.264 frames number their pictures from the last IDR; after frames of
        another encoder a decoder cannot place the pictures of an open-GOP
        I-frame (a recovery point), so only an IDR frame will do. H.265 numbers
        afresh at any IRAP picture (CRA included) after an end of sequence.
        """
        if self.codec != "h264":
            return True
        nals = nal.split(bytes(keyframe.packet), self._framing)
        return any(nal.nal_type("h264", n) == _H264_IDR for n in nals)

    def _first_copied(self, keyframe: TimedPacket) -> TimedPacket:
        """The keyframe where copying resumes, made to start a coded video sequence of its own.

        H.264: it is an IDR frame, which does that by itself. H.265: it may be a CRA
        whose picture order counts continue the camera's; an end of sequence in front
        of it makes the decoder start afresh there, and the camera's parameter sets
        follow (ours had the same ids) unless the keyframe carries them itself.
        """
        if self._template is None or self._template.codec_name != "hevc":
            return keyframe
        data = bytes(keyframe.packet)
        present = {nal.nal_type("hevc", n) for n in nal.split(data, self._framing)}
        sets = [] if set(nal.HEVC_PARAMETER_SETS) <= present else self._source_sets
        prefix = [_HEVC_END_OF_SEQUENCE, *sets]
        if self._framing == nal.ANNEX_B:
            return _with_data(keyframe, nal.annexb(prefix) + data)
        return _with_data(keyframe, nal.length_prefixed(prefix, self._framing) + data)

    # -- the copy and the tail -------------------------------------------------------------

    def _copy(self, run: _Run, packets: Iterable[TimedPacket]) -> Iterator[TimedPacket]:
        """Copy GOP by GOP; the GOP that holds E is cut by ``_tail``."""
        end = self.end
        gop: list[TimedPacket] = []
        done = False
        for tp in packets:
            if done:
                if tp.kind == "audio":
                    yield tp
                continue
            if end is None:
                yield self._copied(tp)
                continue
            if tp.kind == "video" and tp.wall_dts > end + WALL_EPSILON:
                yield from self._tail(run, gop)
                done = True
                continue
            if tp.kind == "video" and tp.is_keyframe and gop:
                yield from (self._copied(p) for p in gop)
                run.previous_gop = [p for p in gop if p.kind == "video"]
                gop = []
            gop.append(tp)
        if not done:
            if end is not None and gop:
                last = max((p.wall_pts for p in gop if p.kind == "video"), default=None)
                if last is not None and last >= end - WALL_EPSILON:
                    yield from self._tail(run, gop)
                    return
            yield from (self._copied(p) for p in gop)

    def _tail(self, run: _Run, gop: list[TimedPacket]) -> Iterator[TimedPacket]:
        """The GOP holding E: the decode-order prefix that shows nothing after E is copied;
        frames shown by E that come after it are re-encoded."""
        assert self.end is not None
        end = self.end
        video = [p for p in gop if p.kind == "video"]
        audio = [p for p in gop if p.kind == "audio"]
        cut = next((i for i, p in enumerate(video) if not shown_by(p.wall_pts, end)), len(video))
        prefix, later = video[:cut], video[cut:]
        needed = [p for p in later if shown_by(p.wall_pts, end)]
        if not needed:
            yield from _merge([self._copied(p) for p in prefix], audio)
            return
        decode = video[: max(video.index(p) for p in needed) + 1]
        prefix_end = max((p.wall_pts for p in prefix), default=-math.inf)
        keyframe = video[0]
        if any(p.wall_pts < keyframe.wall_pts - WALL_EPSILON for p in needed) or any(
            p.wall_pts <= prefix_end + WALL_EPSILON for p in needed
        ):
            # Leading pictures of the keyframe, or an unusual GOP structure: re-encode every
            # frame of the GOP shown by E (with the GOP before it, which leading pictures need).
            prefix = []
            needed = [p for p in video if shown_by(p.wall_pts, end)]
            decode = [*run.previous_gop, *decode]
        after = (
            prefix[-1].wall_dts
            if prefix
            else (run.previous_gop[-1].wall_dts if run.previous_gop else None)
        )
        frames = _pick(_decode(self._template, decode, needed, self._framing), needed)
        copied = [self._copied(p) for p in prefix]
        yield from _merge([*copied, *self._encode(frames, run.number, after=after)], audio)

    # -- encoding --------------------------------------------------------------------------

    def _prepare(self, keyframe: TimedPacket) -> None:
        """Learn the source's codec and parameter sets from its first keyframe; declare ours."""
        if self._template is not None:
            return
        template = keyframe.template or StreamTemplate(keyframe.stream)
        if template.codec_name not in SMART_CUT_CODECS:
            if self.start is None and self.end is None:
                self._template = template  # a plain copy: nothing to re-encode, so far
                return
            raise SmartCutUnavailable(template.codec_name)
        codec = template.codec_name
        extradata = template.extradata
        self._framing = nal.framing(codec, extradata)
        in_band = [
            n
            for n in nal.split(bytes(keyframe.packet), self._framing)
            if nal.nal_type(codec, n)
            in (nal.HEVC_PARAMETER_SETS if codec == "hevc" else (nal.H264_SPS, nal.H264_PPS))
        ]
        self._source_sets = nal.parameter_sets(codec, extradata) or in_band
        if codec == "h264":
            ids = [
                nal.h264_sps_id(n)
                for n in self._source_sets
                if nal.nal_type(codec, n) == nal.H264_SPS
            ]
            pps_ids = [
                nal.h264_sps_id(n)
                for n in self._source_sets
                if nal.nal_type(codec, n) == nal.H264_PPS
            ]
            self._sps_id = max([*ids, *pps_ids, 0]) + 1
            ours = _Encoder(template, self._sps_id).parameter_sets()
            if self._framing == nal.ANNEX_B:
                template.output_extradata = nal.annexb([*self._source_sets, *ours])
            else:
                template.output_extradata = nal.avcc_with(extradata, ours)
        else:
            template.output_codec_tag = "hev1"
        self._template = template
        self.codec = codec

    def _encode(
        self,
        frames: list[Decoded],
        run: int,
        *,
        before: TimedPacket | None = None,
        after: float | None = None,
    ) -> list[TimedPacket]:
        """Re-encoded packets for ``frames``, decode times kept between ``after`` and ``before``."""
        assert self._template is not None
        if not frames:
            return []
        encoded = _Encoder(self._template, self._sps_id).encode(frames)
        if before is not None:
            shift = max(0.0, encoded[-1][1] - (before.wall_dts - _SEAM_MARGIN))
            encoded = [(pts, dts - shift, key, data) for pts, dts, key, data in encoded]
        if after is not None:
            fixed = []
            last = after
            for pts, dts, key, data in encoded:
                dts = max(dts, last + _SEAM_MARGIN / 10)
                if dts > pts + WALL_EPSILON:
                    raise ExportFailed("the re-encoded tail cannot follow the copied frames")
                fixed.append((pts, dts, key, data))
                last = dts
            encoded = fixed
        duration = self._template.frame_seconds
        return [
            TimedPacket(
                packet=self._packet(data, key),
                stream=self._template.stream,
                kind="video",
                wall_pts=pts,
                wall_dts=dts,
                duration=duration,
                is_keyframe=key,
                run=run,
                reencoded=True,
                template=self._template,
            )
            for pts, dts, key, data in encoded
        ]

    def _packet(self, annexb_data: bytes, keyframe: bool) -> Any:
        """An encoder's Annex B packet in the source's framing."""
        data = annexb_data
        if self._framing != nal.ANNEX_B:
            assert self._template is not None
            codec = self._template.codec_name
            nals = nal.split(annexb_data, nal.ANNEX_B)
            if codec == "h264":  # the parameter sets are in the avcC
                nals = [
                    n for n in nals if nal.nal_type(codec, n) not in (nal.H264_SPS, nal.H264_PPS)
                ]
            data = nal.length_prefixed(nals, self._framing)
        packet = av.Packet(data)
        packet.is_keyframe = keyframe
        packet.time_base = _TICK
        return packet

    def leading_pictures(
        self, previous: list[TimedPacket], keyframe: TimedPacket, leading: list[TimedPacket]
    ) -> list[TimedPacket] | None:
        """``leading`` (an open GOP's leading pictures of ``keyframe``) encoded anew, to end
        the part before a size split at ``keyframe`` (see ``clip_writer.LeadingPictures``).

        H.265 forbids the frames after a CRA to refer to its leading pictures, so a part
        can start there. An open-GOP H.264 I-frame promises no such thing (x264's later
        B-frames do refer to them): no part may start there. ``strict`` cutters (archive
        exports, which can be re-encoded instead) say so by raising; others decline.
        """
        if self._template is None:
            self._prepare(keyframe)
        if self.codec is None or self.codec == "h264":
            if not self.strict:
                return None
            assert self._template is not None
            raise SmartCutUnavailable(
                self._template.codec_name,
                "an open-GOP recording cannot be split by size at its I-frames"
                if self.codec == "h264"
                else None,
            )
        frames = _pick(
            _decode(self._template, [*previous, keyframe, *leading], leading, self._framing),
            leading,
        )
        after = max((p.wall_dts for p in previous), default=None)
        return self._encode(frames, keyframe.run, after=after)

    def _copied(self, tp: TimedPacket) -> TimedPacket:
        if tp.kind == "video":
            tp.template = self._template
        return tp


# -- helpers ---------------------------------------------------------------------------------


def _until_run_changes(
    first: TimedPacket, upstream: Iterator[TimedPacket], carry: list[TimedPacket]
) -> Iterator[TimedPacket]:
    yield first
    for tp in upstream:
        if tp.run != first.run:
            carry.append(tp)
            return
        yield tp


def _chain(first: Iterable[TimedPacket], then: Iterable[TimedPacket]) -> Iterator[TimedPacket]:
    yield from first
    yield from then


def _without_leading(packets: list[TimedPacket], keyframe: TimedPacket) -> list[TimedPacket]:
    """``packets`` without the keyframe's leading pictures (shown before it, decoded after)."""
    return [
        p
        for p in packets
        if not (
            p.kind == "video"
            and p is not keyframe
            and p.wall_dts >= keyframe.wall_dts - WALL_EPSILON
            and p.wall_pts < keyframe.wall_pts - WALL_EPSILON
        )
    ]


def _decode(
    template: StreamTemplate | None,
    video: list[TimedPacket],
    wanted: list[TimedPacket],
    framing: int,
) -> list[Decoded]:
    """The frames of ``video``; frames nothing refers to are decoded only if ``wanted``."""
    if template is None or not video:
        return []
    codec = template.codec_name
    keep = {id(p) for p in wanted}
    needed = [
        p for p in video if id(p) in keep or not nal.is_disposable(codec, bytes(p.packet), framing)
    ]
    decoder = WallDecoder(codec, template.extradata, threads=2)
    try:
        return decoder.decode_all(needed)
    except av.FFmpegError as exc:
        raise ExportFailed(f"cannot decode the frames to re-encode at the cut: {exc}") from exc


def _pick(decoded: list[Decoded], wanted: list[TimedPacket]) -> list[Decoded]:
    """The decoded frames presented when ``wanted`` packets are, in presentation order."""
    times = sorted(p.wall_pts for p in wanted)
    picked = []
    for frame in decoded:
        index = bisect_left(times, frame.wall - WALL_EPSILON)
        if index < len(times) and abs(times[index] - frame.wall) <= WALL_EPSILON:
            picked.append(frame)
    if len(picked) != len(times):
        raise ExportFailed(
            f"the cut needs {len(times)} frames re-encoded but {len(picked)} decoded"
        )
    return picked


def _merge(video: list[TimedPacket], audio: list[TimedPacket]) -> Iterator[TimedPacket]:
    """Video and audio packets of one stretch, in decode order."""
    yield from sorted([*video, *audio], key=lambda p: p.wall_dts)


def _with_data(tp: TimedPacket, data: bytes) -> TimedPacket:
    """``tp`` with other bytes (every other field kept, the segment's init included)."""
    packet = av.Packet(data)
    packet.is_keyframe = tp.is_keyframe
    packet.time_base = tp.packet.time_base
    return replace(tp, packet=packet)
