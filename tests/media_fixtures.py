"""Real, tiny camera archives made with the bundled FFmpeg, with exact ground truth.

Every video frame N carries its number in its pixels (``tests.framecode``), so
after decoding a test can tell which frame it holds and check the wall-clock
time vexport gave it against ``frame_time(start, N)``. The video is encoded as
FFmpeg's x264 defaults do (B-frames, B-pyramid), with a fixed GOP so tests
know where the keyframes are. The playlists and manifests are written (or
rewritten) here from probed timestamps rather than trusted from the muxers,
so that "frame N is at start + N/fps" holds exactly. ``tests.corpus`` has the
other encodings real recorders write.

Public API (kept stable; other tests depend on it):

- ``frame_time(start, n, fps=25) -> datetime``
- ``frame_number(frame) -> int``: the frame's number modulo ``LUMA_PERIOD`` (32)
- ``make_numbered_video(path, seconds, ...) -> Path`` (one plain file)
- ``make_hls_archive(directory, start, seconds, ...) -> Path`` (the playlist)
- ``make_dash_archive(directory, start, seconds, ...) -> Path`` (the MPD)
"""

from __future__ import annotations

import fcntl
import hashlib
import math
import os
import re
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Collection
from datetime import datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import av

from tests.framecode import framecode_graph, read_frame_number
from vexport.media.ffmpeg import ffmpeg_binary

WIDTH = 320
HEIGHT = 180
FPS = 25
LUMA_PERIOD = 32
"""Tests compare frame numbers modulo this (the pixels carry them in full)."""

_DASH_NS = "urn:mpeg:dash:schema:mpd:2011"


def frame_time(start: datetime, n: int, fps: int = FPS) -> datetime:
    """Wall-clock time of frame ``n`` of an archive that starts at ``start``."""
    return start + timedelta(microseconds=round(n * 1_000_000 / fps))


def frame_number(frame: Any, pattern: Pattern = "numbered") -> int:
    """The number drawn into a decoded frame, modulo ``LUMA_PERIOD``; -1 if unreadable."""
    if pattern == "flat":
        plane = frame.planes[0]  # Y as coded (limited range), not converted
        data = bytes(plane)
        rows = range(frame.height // 4, frame.height - frame.height // 4)
        x0, x1 = frame.width // 4, frame.width - frame.width // 4
        total = sum(sum(data[r * plane.line_size + x0 : r * plane.line_size + x1]) for r in rows)
        return round(total / (len(rows) * (x1 - x0)) / 8) % LUMA_PERIOD
    number = read_frame_number(frame)
    return -1 if number is None else number % LUMA_PERIOD


Pattern = Literal["numbered", "flat"]
"""``numbered``: frame numbers in the pixels (``tests.framecode``). ``flat``: every frame a
flat grey of luma (N * 8) % 256, for tests of what is drawn on pictures (text, masks)."""


def _pattern(seconds: float, fps: int, pattern: Pattern = "numbered") -> Path:
    """The test pattern, lossless, made once per kind, length and rate (geq is slow)."""
    if pattern == "flat":
        graph = (
            f"nullsrc=s={WIDTH}x{HEIGHT}:r={fps},"
            "geq=lum='mod(N*8,256)':cb=128:cr=128,format=yuv420p"
        )
    else:
        graph = framecode_graph(WIDTH, HEIGHT, str(fps))
    key = hashlib.sha256(f"{graph}|{seconds}".encode()).hexdigest()[:16]
    path = _PATTERNS / f"pattern-{key}.mkv"
    _PATTERNS.mkdir(parents=True, exist_ok=True)
    with open(_PATTERNS / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.exists():
            partial = path.with_suffix(".part.mkv")
            _run_ffmpeg(
                ["-f", "lavfi", "-i", graph, "-t", f"{seconds:.6f}", "-c:v", "ffv1", str(partial)]
            )
            partial.rename(path)
    return path


_PATTERNS = Path(tempfile.gettempdir()) / f"vexport-test-patterns-{os.getuid()}"


def _run_ffmpeg(args: list[str]) -> None:
    cmd = [ffmpeg_binary(), "-hide_banner", "-loglevel", "error", "-y", *args]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"ffmpeg failed ({result.returncode}): {result.stderr.strip()}")


def _encode_args(
    seconds: float,
    *,
    fps: int,
    gop_frames: int,
    audio: bool,
    video_delay: float,
    pattern: Pattern = "numbered",
) -> list[str]:
    """Input and codec arguments of the test pattern (and a 440 Hz tone)."""
    args: list[str] = []
    if video_delay:
        args += ["-itsoffset", f"{video_delay:.6f}"]
    args += ["-t", f"{seconds:.6f}", "-i", str(_pattern(seconds, fps, pattern))]
    if audio:
        args += ["-f", "lavfi", "-t", f"{seconds + video_delay:.6f}"]
        args += ["-i", "sine=frequency=440:sample_rate=48000"]
    args += ["-map", "0:v"]
    if audio:
        args += ["-map", "1:a"]
    # x264's defaults (3 B-frames, B-pyramid) with a GOP of exactly ``gop_frames``.
    args += [
        "-c:v", "libx264", "-preset", "veryfast", "-bf", "3",
        "-g", str(gop_frames), "-keyint_min", str(gop_frames), "-sc_threshold", "0",
        "-pix_fmt", "yuv420p", "-fps_mode", "passthrough",
    ]  # fmt: skip
    if audio:
        args += ["-c:a", "aac", "-ac", "1", "-b:a", "64k"]
    return args


def make_numbered_video(
    path: Path,
    seconds: float,
    *,
    fps: int = FPS,
    gop_frames: int | None = None,
    audio: bool = True,
    video_delay: float = 0.0,
    pattern: Pattern = "numbered",
) -> Path:
    """One file (format from the suffix: .ts, .mp4, .mkv…) of the test pattern."""
    args = _encode_args(
        seconds,
        fps=fps,
        gop_frames=gop_frames or fps,
        audio=audio,
        video_delay=video_delay,
        pattern=pattern,
    )
    _run_ffmpeg([*args, str(path)])
    return path


def _first_pts(data_paths: list[Path]) -> dict[str, tuple[int, Fraction]]:
    """Smallest PTS per stream kind of the concatenated files, with its time base."""
    from io import BytesIO

    blob = BytesIO(b"".join(p.read_bytes() for p in data_paths))
    found: dict[str, tuple[int, Fraction]] = {}
    with av.open(blob) as container:
        for packet in container.demux():
            if packet.pts is None:
                continue
            kind = packet.stream.type
            if kind not in found or packet.pts < found[kind][0]:
                found[kind] = (packet.pts, Fraction(packet.stream.time_base))
    return found


def _first_frame_number(data_paths: list[Path], pattern: Pattern) -> int:
    """Frame number (mod 32) of the first decoded video frame of the concatenated files."""
    from io import BytesIO

    blob = BytesIO(b"".join(p.read_bytes() for p in data_paths))
    with av.open(blob) as container:
        for frame in container.decode(video=0):
            return frame_number(frame, pattern)
    raise AssertionError(f"{data_paths[-1].name}: no video frame")


def _check_segments(
    segments: list[Path],
    init: Path | None,
    frames_per_segment: int,
    gop_frames: int,
    pattern: Pattern = "numbered",
) -> None:
    """Each segment starting at a keyframe must start with the frame the ground truth
    says (no dropped or duplicated frames, e.g. from FFmpeg's frame-rate logic)."""
    prefix = [init] if init is not None else []
    for index, segment in enumerate(segments):
        if (index * frames_per_segment) % gop_frames:
            continue
        expected = (index * frames_per_segment) % LUMA_PERIOD
        found = _first_frame_number([*prefix, segment], pattern)
        if found != expected:
            raise AssertionError(f"{segment.name}: starts with frame {found}, not {expected}")


def _split_ts(
    source: Path, directory: Path, *, frames_per_segment: int, fps: int, audio_lead: float
) -> list[Path]:
    """Cut a TS file into segments at keyframes, giving each segment's audio a lead.

    Audio packets are assigned by their own PTS to windows that start
    ``audio_lead`` before each segment's first video frame, so every segment's
    audio starts that much earlier than its video, as many cameras record.
    """
    with av.open(str(source)) as src:
        vin = src.streams.video[0]
        ain = src.streams.audio[0] if src.streams.audio else None
        packets = [p for p in src.demux() if p.pts is not None]
        tb = Fraction(vin.time_base)
        v0 = min(p.pts for p in packets if p.stream.type == "video")
        seg_ticks = Fraction(frames_per_segment, fps) / tb
        lead_ticks = Fraction(audio_lead).limit_denominator(1_000_000) / tb
        buckets: dict[int, list[Any]] = {}
        for packet in packets:
            if packet.stream.type == "video":
                index = round((packet.pts - v0) * tb * fps) // frames_per_segment
            else:
                offset = packet.pts - (v0 - lead_ticks)
                if offset < 0:
                    continue
                index = math.floor(offset / seg_ticks)
            buckets.setdefault(index, []).append(packet)
        n_segments = 1 + max(
            i for i, ps in buckets.items() if any(p.stream.type == "video" for p in ps)
        )
        paths = []
        for index in range(n_segments):
            path = directory / f"seg{index:05d}.ts"
            with av.open(str(path), "w", format="mpegts") as out:
                vout = out.add_stream_from_template(vin)
                aout = out.add_stream_from_template(ain) if ain is not None else None
                for packet in sorted(buckets.get(index, []), key=lambda p: p.dts):
                    packet.stream = vout if packet.stream.type == "video" else aout
                    out.mux(packet)
            paths.append(path)
    return paths


def _format_pdt(value: datetime) -> str:
    return value.isoformat(timespec="microseconds").replace("+00:00", "Z")


def make_hls_archive(
    directory: Path,
    start: datetime,
    seconds: float,
    *,
    segment_seconds: float = 2.0,
    fps: int = FPS,
    audio: bool = True,
    audio_lead_seconds: float = 0.04,
    fmp4: bool = False,
    drop_segments: Collection[int] = frozenset(),
    pdt_every_segment: bool = True,
    gop_seconds: float | None = None,
    pattern: Pattern = "numbered",
) -> Path:
    """An HLS archive whose frame N is at exactly ``frame_time(start, N, fps)``.

    Each segment's ``EXT-X-PROGRAM-DATE-TIME`` is ``start`` plus its first video
    PTS minus the stream's first video PTS. ``drop_segments`` (indexes from 0)
    leaves those segments out of the playlist and off the disk, a real gap
    flagged with ``EXT-X-DISCONTINUITY``. With ``pdt_every_segment=False`` only
    the first segment and the ones after a gap carry a PDT. TS segments give
    every segment's audio ``audio_lead_seconds`` of lead over its video; fMP4
    segments come from FFmpeg's HLS muxer, where only the first segment's audio
    leads (later fragments are cut at the video keyframe for both tracks).
    ``gop_seconds`` (TS only, default: the segment length) longer than the
    segments makes segments that do not begin with a keyframe.
    """
    directory.mkdir(parents=True, exist_ok=True)
    frames_per_segment = round(segment_seconds * fps)
    lead = audio_lead_seconds if audio else 0.0
    init: Path | None = None
    if fmp4:
        args = _encode_args(
            seconds,
            fps=fps,
            gop_frames=frames_per_segment,
            audio=audio,
            video_delay=lead,
            pattern=pattern,
        )
        muxer_playlist = directory / "ffmpeg.m3u8"
        _run_ffmpeg(
            [
                *args,
                "-f", "hls", "-hls_time", f"{segment_seconds}", "-hls_playlist_type", "vod",
                "-hls_segment_type", "fmp4", "-hls_fmp4_init_filename", "init.mp4",
                "-hls_segment_filename", str(directory / "seg%05d.m4s"), str(muxer_playlist),
            ]
        )  # fmt: skip
        names = [
            line
            for line in muxer_playlist.read_text().splitlines()
            if line and not line.startswith("#")
        ]
        muxer_playlist.unlink()
        segments = [directory / name for name in names]
        init = directory / "init.mp4"
    else:
        source = directory / "source.ts"
        # The video is delayed by more than the lead so that the first segment
        # has audio to lead with (AAC priming eats a little).
        make_numbered_video(
            source,
            seconds,
            fps=fps,
            gop_frames=round((gop_seconds or segment_seconds) * fps),
            audio=audio,
            video_delay=lead + 0.1 if audio else 0.0,
            pattern=pattern,
        )
        segments = _split_ts(
            source, directory, frames_per_segment=frames_per_segment, fps=fps, audio_lead=lead
        )
        source.unlink()

    gop_frames = round((gop_seconds or segment_seconds) * fps) if not fmp4 else frames_per_segment
    _check_segments(segments, init, frames_per_segment, gop_frames, pattern)
    prefix = [init] if init is not None else []
    firsts = [_first_pts([*prefix, seg]) for seg in segments]
    v0, tb = firsts[0]["video"]
    if audio and lead > 0 and not fmp4:
        for seg, first in zip(segments, firsts, strict=True):
            if not first["audio"][0] < first["video"][0]:
                raise AssertionError(f"{seg.name}: audio does not start before the video")
    starts = [start + timedelta(seconds=float((f["video"][0] - v0) * tb)) for f in firsts]
    total = Fraction(round(seconds * fps), fps)
    ends = [*starts[1:], start + timedelta(seconds=float(total))]

    version = 7 if fmp4 else 3
    target = math.ceil(max((e - s).total_seconds() for s, e in zip(starts, ends, strict=True)))
    lines = [
        "#EXTM3U",
        f"#EXT-X-VERSION:{version}",
        f"#EXT-X-TARGETDURATION:{target}",
        "#EXT-X-MEDIA-SEQUENCE:0",
        "#EXT-X-PLAYLIST-TYPE:VOD",
    ]
    if init is not None:
        lines.append(f'#EXT-X-MAP:URI="{init.name}"')
    after_gap = True
    for index, seg in enumerate(segments):
        if index in drop_segments:
            seg.unlink()
            after_gap = True
            continue
        if after_gap and index > 0 and len(lines) > 6:
            lines.append("#EXT-X-DISCONTINUITY")
        if pdt_every_segment or after_gap:
            lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{_format_pdt(starts[index])}")
        after_gap = False
        duration = (ends[index] - starts[index]).total_seconds()
        lines.append(f"#EXTINF:{duration:.6f},")
        lines.append(seg.name)
    lines.append("#EXT-X-ENDLIST")
    playlist = directory / "index.m3u8"
    playlist.write_text("\n".join(lines) + "\n")
    return playlist


def _iso_duration_seconds(text: str) -> float:
    match = re.fullmatch(r"PT(?:(\d+(?:\.\d*)?)H)?(?:(\d+(?:\.\d*)?)M)?(?:(\d+(?:\.\d*)?)S)?", text)
    if not match:
        raise ValueError(f"unsupported duration {text!r}")
    h, m, s = (float(g or 0) for g in match.groups())
    return h * 3600 + m * 60 + s


def make_dash_archive(
    directory: Path,
    start: datetime,
    seconds: float,
    *,
    template: Literal["number", "time"] = "time",
    audio: bool = True,
    segment_seconds: float = 2.0,
    fps: int = FPS,
) -> Path:
    """A static DASH archive (FFmpeg's muxer) whose frame N is at ``frame_time(start, N)``.

    FFmpeg writes no ``availabilityStartTime`` for a static MPD; it is set here
    to ``start`` minus Period@start and the video's first segment time, after
    checking that the first video packet really sits at that segment time.
    """
    directory.mkdir(parents=True, exist_ok=True)
    frames_per_segment = round(segment_seconds * fps)
    args = _encode_args(
        seconds, fps=fps, gop_frames=frames_per_segment, audio=audio, video_delay=0.0
    )
    mpd_path = directory / "manifest.mpd"
    adaptation_sets = "id=0,streams=v id=1,streams=a" if audio else "id=0,streams=v"
    _run_ffmpeg(
        [
            *args,
            "-f", "dash", "-seg_duration", f"{segment_seconds}",
            "-use_template", "1", "-use_timeline", "1" if template == "time" else "0",
            "-init_seg_name", "init-$RepresentationID$.m4s",
            "-media_seg_name",
            "chunk-$RepresentationID$-"
            + ("$Time$.m4s" if template == "time" else "$Number%05d$.m4s"),
            "-adaptation_sets", adaptation_sets, str(mpd_path),
        ]
    )  # fmt: skip

    ET.register_namespace("", _DASH_NS)
    for prefix, uri in (
        ("xsi", "http://www.w3.org/2001/XMLSchema-instance"),
        ("xlink", "http://www.w3.org/1999/xlink"),
    ):
        ET.register_namespace(prefix, uri)
    tree = ET.parse(mpd_path)
    root = tree.getroot()
    ns = {"d": _DASH_NS}
    period = root.find("d:Period", ns)
    assert period is not None
    period_start = _iso_duration_seconds(period.get("start", "PT0S"))
    video_set = next(
        a for a in period.findall("d:AdaptationSet", ns) if a.get("contentType") == "video"
    )
    rep = video_set.find("d:Representation", ns)
    assert rep is not None
    tmpl = rep.find("d:SegmentTemplate", ns)
    if tmpl is None:
        tmpl = video_set.find("d:SegmentTemplate", ns)
    assert tmpl is not None
    timescale = int(tmpl.get("timescale", "1"))
    pto = int(tmpl.get("presentationTimeOffset", "0"))
    s0 = tmpl.find("d:SegmentTimeline/d:S", ns)
    first_t = int(s0.get("t", "0")) if s0 is not None else pto

    rep_id = rep.get("id", "")
    init = directory / tmpl.get("initialization", "").replace("$RepresentationID$", rep_id)
    first_media = min(directory.glob(f"chunk-{rep_id}-*.m4s"), key=_segment_time)
    pts, tb = _first_pts([init, first_media])["video"]
    if pts * tb != Fraction(first_t, timescale):
        raise AssertionError(f"first video pts {pts * tb} != segment time {first_t}/{timescale}")

    if template == "time":
        _rename_time_segments(directory, root, ns)
    frames = sorted(directory.glob(f"chunk-{rep_id}-*.m4s"), key=_segment_time)
    _check_segments(frames, init, frames_per_segment, frames_per_segment)

    offset = period_start + (first_t - pto) / timescale
    root.set("availabilityStartTime", _format_pdt(start - timedelta(seconds=offset)))
    root.set("type", "static")
    tree.write(mpd_path, xml_declaration=True, encoding="utf-8")
    return mpd_path


def _segment_time(path: Path) -> int:
    """The number in ``chunk-<rep>-<number or time>.m4s`` (times may be negative)."""
    return int(path.stem.split("-", 2)[2])


def _rename_time_segments(directory: Path, root: ET.Element, ns: dict[str, str]) -> None:
    """Name ``$Time$`` segments by the MPD's timeline.

    FFmpeg's DASH muxer names the first AAC segment by its real start (-1024,
    the encoder priming) but lists it at t=0 in the SegmentTimeline; the MPD is
    what a client follows, so the files are renamed to match it.
    """
    for rep in root.iterfind(".//d:Representation", ns):
        rep_id = rep.get("id", "")
        timeline = rep.find("d:SegmentTemplate/d:SegmentTimeline", ns)
        assert timeline is not None
        times: list[int] = []
        t = 0
        for s in timeline.iterfind("d:S", ns):
            t = int(s.get("t", t))
            for _ in range(int(s.get("r", "0")) + 1):
                times.append(t)
                t += int(s.get("d", "0"))
        files = sorted(directory.glob(f"chunk-{rep_id}-*.m4s"), key=_segment_time)
        if len(files) != len(times):
            raise AssertionError(f"representation {rep_id}: {len(files)} files, {len(times)} S")
        for path, t in zip(files, times, strict=True):
            target = directory / f"chunk-{rep_id}-{t}.m4s"
            if path != target:
                path.rename(target)
