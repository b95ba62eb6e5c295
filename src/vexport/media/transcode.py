"""Re-encoding: wall-clock-timed packets in, re-encoded wall-clock-timed packets out.

The transcoder sits between a source (archive or live) and the clip writer,
so everything the writer does for stream copies (size splitting at
keyframes, edit lists, a new file at every gap, the per-container rules)
works unchanged for re-encoded clips.

Each contiguous run of the source (an archive without gaps, one live
connection) goes through one FFmpeg process: packets are muxed into NUT on
its stdin with timestamps ``wall - epoch_base`` and read back as NUT from its
stdout. ``-copyts`` keeps those timestamps, so inside the filtergraph a
frame's ``t`` plus ``epoch_base`` is its wall-clock time: that is what the
timestamp overlay draws, and what the output packets are stamped with. A new
process per run means every file after a gap starts on a fresh keyframe.

A time-lapse changes the output's clock; ``WallMap`` converts output times
back to the original ones for the result's min/max timestamps.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import math
import subprocess
import threading
from collections import deque
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import IO, Any, Protocol

import av

from vexport.media.encoding import (
    CODEC_NAMES,
    KEYFRAME_INTERVAL,
    audio_args,
    copied_audio,
    video_args,
)
from vexport.media.ffmpeg import dying_with_parent
from vexport.media.packets import DEFAULT_FRAME_SECONDS, WALL_EPSILON, StreamKind, TimedPacket
from vexport.media.plan import ContainerFormat, ExportFailed
from vexport.media.privacy import ColorTags
from vexport.media.rendering import AudioCodec, Quality, Rendering, TimeLapse, VideoCodec
from vexport.media.templates import StreamTemplate

log = logging.getLogger(__name__)


class PixelFilters(Protocol):
    """(width, height, epoch_base, workdir, src pad, dst pad) -> filtergraph text."""

    def __call__(
        self,
        width: int,
        height: int,
        epoch_base: float,
        workdir: Path,
        src: str,
        dst: str,
        *,
        color: ColorTags | None = None,
    ) -> str: ...


_TICKS = 1_000_000  # NUT timestamps on the pipe: microseconds since epoch_base
_TICK = Fraction(1, _TICKS)
# Look at this much of a run before starting FFmpeg, to learn which tracks it has.
_PROBE_SECONDS = 1.0
_PROBE_PACKETS = 200
# Keep feeding this long past the end: B-frames reorder and audio interleaves.
_END_SLACK = 0.5
_STDERR_LINES = 40
# Spacing of the decode times given to packets that arrive without one, when the packet
# after them has no duration to go by.
_BACKFILL_STEP = 1e-3


@dataclass(frozen=True)
class TranscodeJob:
    """What one source's re-encode must do; times are POSIX seconds (wall clock).

    ``start``/``end`` trim exactly (the frame displayed at ``start`` is the
    first); ``duration`` bounds a live clip from its first frame. ``video_graph``
    builds the pixel filters (masks, crop, text) for a frame size.
    """

    rendering: Rendering
    start: float | None = None
    end: float | None = None
    duration: float | None = None
    pixel_filters: PixelFilters | None = None
    # Only the audio changes: the video is copied, and the clip writer trims it.
    copy_video: bool = False
    x264_preset: str = "veryfast"
    # The clip's container: source audio it cannot hold (G.711 in MP4) becomes AAC.
    container: ContainerFormat | None = None


@dataclass
class WallMap:
    """Output clock -> original wall clock; the identity unless time-lapsed."""

    lapse: TimeLapse | None = None
    input_walls: list[float] = field(default_factory=list)  # video frames fed, in order
    output_origin: float | None = None  # output time of the first re-encoded frame

    def __call__(self, output_wall: float) -> float:
        if self.lapse is None or not self.input_walls or self.output_origin is None:
            return output_wall
        elapsed = max(0.0, output_wall - self.output_origin)
        if self.lapse.speed > 0:
            wall = self.input_walls[0] + elapsed * self.lapse.speed
            return min(wall, self.input_walls[-1])
        index = min(len(self.input_walls) - 1, round(elapsed * self.lapse.fps))
        return self.input_walls[index]


class Transcoder:
    """Re-encodes one source's packets; iterate :meth:`packets` once."""

    def __init__(self, job: TranscodeJob, *, ffmpeg: str, workdir: Path) -> None:
        self.job = job
        self.ffmpeg = ffmpeg
        self.workdir = workdir
        self.wall_map = WallMap(lapse=job.rendering.time_lapse)
        self._end: float | None = job.end

    def packets(self, source: Iterable[TimedPacket]) -> Iterator[TimedPacket]:
        upstream = iter(source)
        carry: TimedPacket | None = None
        while True:
            head, templates, carry = self._probe(upstream, carry)
            if not head:
                return
            process = _RunProcess(self, head, templates)
            try:
                carry = yield from process.run(upstream)
            finally:
                process.close()
            if carry is None:
                return

    def _probe(
        self, upstream: Iterator[TimedPacket], carry: TimedPacket | None
    ) -> tuple[list[TimedPacket], dict[StreamKind, StreamTemplate], TimedPacket | None]:
        """The first packets of the next run, until its tracks are known."""
        head: list[TimedPacket] = []
        templates: dict[StreamKind, StreamTemplate] = {}
        first_video: float | None = None
        pending = [carry] if carry is not None else []
        for tp in itertools.chain(pending, upstream):
            if head and tp.run != head[0].run:
                return head, templates, tp
            if tp.kind not in templates:
                # Copied now: the source may close this packet's demuxer any moment.
                templates[tp.kind] = tp.template or StreamTemplate(tp.stream)
            head.append(tp)
            if tp.kind == "video" and first_video is None:
                first_video = tp.wall_pts
            if first_video is not None and (
                len(templates) == 2
                or tp.wall_dts - first_video > _PROBE_SECONDS
                or len(head) > _PROBE_PACKETS
            ):
                break
        if head and "video" not in templates:
            return [], {}, None
        return head, templates, None

    def end_of(self, first_video: float) -> float | None:
        """The last wall time to export, once the run's first frame is known (live)."""
        if self._end is None and self.job.duration is not None:
            self._end = first_video + self.job.duration
        return self._end


class _RunProcess:
    """One FFmpeg process re-encoding one contiguous run."""

    def __init__(
        self,
        owner: Transcoder,
        head: list[TimedPacket],
        templates: dict[StreamKind, StreamTemplate],
    ) -> None:
        self.owner = owner
        self.job = owner.job
        self.head = head
        self.templates = templates
        self.run_id = head[0].run
        self.epoch_base = float(math.floor(min(tp.wall_dts for tp in head)) - 1)
        first_video = min(tp.wall_pts for tp in head if tp.kind == "video")
        self.end = owner.end_of(first_video)
        video = templates["video"]
        self.frame_seconds = float(1 / video.rate) if video.rate else DEFAULT_FRAME_SECONDS
        lapse = self.job.rendering.time_lapse
        self.keyframes_only = lapse is not None and lapse.fps > 0
        self.carry: TimedPacket | None = None
        self.error: BaseException | None = None
        self._stderr: deque[str] = deque(maxlen=_STDERR_LINES)
        self.command = self._command()
        log.debug("transcoding run %d: %s", self.run_id, " ".join(self.command))
        self.proc = subprocess.Popen(
            dying_with_parent(self.command),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self._stderr_thread = threading.Thread(
            target=self._drain_stderr, name="ffmpeg-stderr", daemon=True
        )
        self._stderr_thread.start()

    # -- the command ------------------------------------------------------------

    def _threshold(self) -> float | None:
        """Frames before this wall time are not shown: the one displayed at start is first."""
        if self.job.start is None or self.job.copy_video:
            return None
        return self.job.start - self.frame_seconds + WALL_EPSILON

    def _command(self) -> list[str]:
        rendering = self.job.rendering
        video = self.templates["video"]
        audio = self.templates.get("audio")
        lapse = rendering.time_lapse
        audio_codec = self._audio_codec(audio)
        video_codec = rendering.video.codec
        if video_codec is VideoCodec.COPY:
            video_codec = VideoCodec.H264  # something forced a re-encode: the smart default

        graph: list[str] = []
        label = "0:v"
        step = 0

        def add(chain: str) -> None:
            nonlocal label, step
            out = f"v{step}"
            graph.append(f"[{label}]{chain}[{out}]")
            label, step = out, step + 1

        threshold = self._threshold()
        selections = []
        if threshold is not None and not self.keyframes_only:
            selections.append(f"gte(t\\,{threshold - self.epoch_base:.6f})")
        if self.end is not None:
            selections.append(f"lte(t\\,{self.end - self.epoch_base + WALL_EPSILON:.6f})")
        if selections:
            add(f"select='{'*'.join(selections)}'")
        if rendering.video.frame_divisor > 1:
            add(f"select='not(mod(n\\,{rendering.video.frame_divisor}))'")
        if self.job.pixel_filters is not None:
            width, height = video.width, video.height
            out = f"v{step}"
            graph.append(
                self.job.pixel_filters(
                    width,
                    height,
                    self.epoch_base,
                    self.owner.workdir,
                    label,
                    out,
                    color=ColorTags.of(video.stream.codec_context),
                )
            )
            label, step = out, step + 1
        if lapse is not None:
            rate = float(video.rate) if video.rate else 1 / DEFAULT_FRAME_SECONDS
            if lapse.speed > 0:
                add(f"setpts=(PTS-STARTPTS)/{lapse.speed:g}")
                add(f"fps={lapse.fps:g}" if lapse.fps > 0 else f"fps={rate:g}")
            else:
                add(f"setpts=N/({lapse.fps:g}*TB)")
        if self.job.copy_video:
            graph.clear()
            selections.clear()
            video_map = ["-map", "0:v:0", "-c:v", "copy"]
        else:
            if not graph:
                add("null")
            codec_args = video_args(
                video_codec, rendering.video.quality, x264_preset=self.job.x264_preset
            )
            video_map = [
                "-map", f"[{label}]", "-fps_mode", "passthrough", *codec_args,
                "-force_key_frames", f"expr:gte(t,n_forced*{KEYFRAME_INTERVAL:g})",
            ]  # fmt: skip

        audio_map: list[str] = []
        if audio is not None and audio_codec is not AudioCodec.NONE:
            if audio_codec is AudioCodec.COPY:
                audio_map = ["-map", "0:a:0"]
            else:
                chain = []
                if selections:
                    lower = threshold - self.epoch_base if threshold is not None else None
                    parts = []
                    if lower is not None:
                        parts.append(f"gte(t\\,{lower:.6f})")
                    if self.end is not None:
                        parts.append(f"lte(t\\,{self.end - self.epoch_base:.6f})")
                    if parts:
                        chain.append(f"aselect='{'*'.join(parts)}'")
                if lapse is not None and lapse.speed > 1:
                    chain += ["asetpts=PTS-STARTPTS", f"atempo={lapse.speed:g}"]
                graph.append(f"[0:a:0]{','.join(chain) or 'anull'}[aout]")
                audio_map = ["-map", "[aout]"]

        command = [
            self.owner.ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "warning",
            "-copyts", "-f", "nut", "-i", "pipe:0",
        ]  # fmt: skip
        if graph:
            command += ["-filter_complex", ";".join(graph)]
        command += [*video_map, *audio_map]
        if audio_map:
            command += audio_args(audio_codec, rendering.audio.quality)
            command += ["-flags:a", "+global_header"]
        command += ["-max_muxing_queue_size", "4096", "-f", "nut", "pipe:1"]
        return command

    def _audio_codec(self, audio: StreamTemplate | None) -> AudioCodec:
        """The audio codec of the output: NONE, COPY or an encoder."""
        rendering = self.job.rendering
        lapse = rendering.time_lapse
        if audio is None or rendering.audio.codec is AudioCodec.NONE:
            return AudioCodec.NONE
        if lapse is not None and (lapse.fps > 0 or lapse.speed > 2):
            return AudioCodec.NONE  # keyframes only or faster than 2x: no audio worth hearing
        wanted = rendering.audio.codec
        trims = self._threshold() is not None or self.end is not None
        needs_filter = (trims and not self.job.copy_video) or (
            lapse is not None and lapse.speed > 1
        )
        untouched = not needs_filter and rendering.audio.quality is Quality.NORMAL
        if wanted is AudioCodec.COPY:
            container = self.job.container
            if container is not None and copied_audio(container, audio.codec_name):
                return AudioCodec.AAC  # the container cannot hold the source's codec
            if untouched:
                return AudioCodec.COPY
            # Decoded audio must be encoded again: keep its codec where we can encode it.
            for codec, name in CODEC_NAMES.items():
                if isinstance(codec, AudioCodec) and name == audio.codec_name:
                    return codec
            return AudioCodec.AAC
        if CODEC_NAMES.get(wanted) == audio.codec_name and untouched:
            return AudioCodec.COPY
        return wanted

    # -- running ----------------------------------------------------------------

    def run(
        self, upstream: Iterator[TimedPacket]
    ) -> Generator[TimedPacket, None, TimedPacket | None]:
        """Yield the re-encoded packets of this run; return the next run's first packet."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        feeder = threading.Thread(
            target=self._feed, args=(upstream, self.proc.stdin), name="ffmpeg-feed", daemon=True
        )
        feeder.start()
        try:
            yield from self._read(self.proc.stdout)
        except GeneratorExit:
            self.proc.kill()  # the consumer stopped early (a stop request): don't flush
            feeder.join(timeout=5)
            raise
        feeder.join(timeout=30)
        code = self.proc.wait(timeout=30)
        if self.error is not None:
            raise self.error
        if code != 0:
            raise ExportFailed(f"re-encoding failed: {self.stderr_tail() or f'exit code {code}'}")
        return self.carry

    def _feed(self, upstream: Iterator[TimedPacket], pipe: IO[bytes]) -> None:
        """Writer thread: mux this run's packets into FFmpeg's stdin."""
        walls = self.owner.wall_map.input_walls
        threshold = self._threshold()
        try:
            with av.open(pipe, "w", format="nut") as muxer:
                streams = {
                    kind: muxer.add_stream_from_template(t.stream, opaque=True)
                    for kind, t in self.templates.items()
                }
                last_dts: dict[StreamKind, int] = {}
                for tp in itertools.chain(self.head, upstream):
                    if tp.run != self.run_id:
                        self.carry = tp
                        break
                    if self.end is not None and tp.wall_dts > self.end + _END_SLACK:
                        break
                    stream = streams.get(tp.kind)
                    if stream is None:
                        continue
                    if (
                        self.keyframes_only
                        and tp.kind == "video"
                        and not (tp.is_keyframe and self._within(tp.wall_pts, threshold))
                    ):
                        continue
                    if tp.kind == "video" and self._within(tp.wall_pts, threshold):
                        walls.append(tp.wall_pts)
                    packet = tp.packet
                    packet.time_base = _TICK
                    dts = round((tp.wall_dts - self.epoch_base) * _TICKS)
                    packet.dts = dts
                    packet.pts = max(dts, round((tp.wall_pts - self.epoch_base) * _TICKS))
                    packet.stream = stream  # rescales to the stream's (coarser) time base
                    # DTS must grow in the stream's time base. An audio packet that does
                    # not (DASH audio segments overlap by a packet) is a repeat: drop it.
                    # Video cannot lose a packet, so it is nudged one tick later.
                    previous = last_dts.get(tp.kind)
                    if previous is not None and packet.dts is not None and packet.dts <= previous:
                        if tp.kind != "video":
                            continue
                        packet.dts = previous + 1
                        packet.pts = max(packet.pts or 0, packet.dts)
                    if packet.dts is not None:
                        last_dts[tp.kind] = packet.dts
                    muxer.mux(packet)
        except (BrokenPipeError, av.FFmpegError, OSError, ValueError) as exc:
            if self.proc.poll() is None and not isinstance(exc, BrokenPipeError):
                self.error = ExportFailed(f"feeding the encoder failed: {exc}")
        except BaseException as exc:  # an upstream failure (archive, storage): report it
            self.error = exc
        finally:
            with contextlib.suppress(OSError):
                pipe.close()
        walls.sort()

    def _within(self, wall: float, threshold: float | None) -> bool:
        if threshold is not None and wall < threshold:
            return False
        return self.end is None or wall <= self.end + WALL_EPSILON

    def _read(self, pipe: IO[bytes]) -> Iterator[TimedPacket]:
        try:
            demuxer = av.open(pipe, "r", format="nut")
        except av.FFmpegError:
            return  # nothing came out: the exit code and stderr say why
        with demuxer:
            # The first packets of a stream with B-frames come without a DTS; they
            # decode before the first packet that has one, so they get DTSs just before
            # it, a frame apart (never after their own presentation time).
            undated: dict[StreamKind, list[TimedPacket]] = {"video": [], "audio": []}
            for packet in demuxer.demux():
                if packet.pts is None or packet.size == 0:
                    continue
                timed = self._timed(packet)
                waiting = undated[timed.kind]
                if packet.dts is None:
                    waiting.append(timed)
                    continue
                step = timed.duration or _BACKFILL_STEP
                dts = timed.wall_dts
                for early in reversed(waiting):
                    dts = early.wall_dts = min(dts - step, early.wall_pts)
                yield from waiting
                waiting.clear()
                yield timed
            for waiting in undated.values():
                yield from waiting

    def _timed(self, packet: Any) -> TimedPacket:
        stream = packet.stream
        kind: StreamKind = "video" if stream.type == "video" else "audio"
        tb = packet.time_base
        wall_pts = self.epoch_base + float(packet.pts * tb)
        wall_map = self.owner.wall_map
        if kind == "video" and wall_map.output_origin is None:
            wall_map.output_origin = wall_pts
        dts = packet.dts if packet.dts is not None else packet.pts
        return TimedPacket(
            packet=packet,
            stream=stream,
            kind=kind,
            wall_pts=wall_pts,
            wall_dts=self.epoch_base + float(dts * tb),
            duration=float(packet.duration * tb) if packet.duration else 0.0,
            is_keyframe=bool(packet.is_keyframe),
            run=self.run_id,
        )

    def _drain_stderr(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            line = raw.decode("utf-8", "replace").strip()
            if line:
                self._stderr.append(line)

    def stderr_tail(self) -> str:
        return " | ".join(list(self._stderr)[-12:])

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
        self._stderr_thread.join(timeout=2)
