"""The media corpus: archives as real recorders and encoders write them, with ground truth.

Every archive is made by FFmpeg at test time from the numbered pattern of
``tests.framecode`` (frame N carries N in its pixels), encoded the way
cameras and broadcast encoders do (x264 defaults with B-frames and
B-pyramid, open GOPs, x265, Baseline, 29.97 fps, variable GOPs from scene
cuts), segmented by FFmpeg's own HLS and DASH muxers (HLS-TS, HLS-fMP4, DASH
``$Number$`` and ``$Time$``), with audio leading or lagging the video, MPEG-TS
timestamps that wrap past 2^33, and segments that do not start on a keyframe.

Ground truth: frame N (read from the pixels) was captured at
``archive.frame_wall(N) = start + N / fps``, and the audio track beeps for
50 ms at ``start + k + audio_offset`` for every whole second k. The manifests
are rewritten from probed timestamps so that this holds exactly:
``EXT-X-PROGRAM-DATE-TIME`` is the wall time of the segment's earliest video
frame, DASH ``availabilityStartTime`` places the first video segment's time.

Archives are built once per test run and shared by the xdist workers
(``corpus_dir`` locks a directory beside their base temp directories).
"""

from __future__ import annotations

import fcntl
import io
import json
import math
import re
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import av

from tests.framecode import framecode_graph, read_frame_number
from vexport.media.ffmpeg import ffmpeg_binary

WIDTH, HEIGHT = 320, 180
START = datetime(2026, 6, 1, 12, 0, 0, tzinfo=UTC)
"""Wall time of frame 0 of every corpus archive."""

BEEP_SECONDS = 0.05
BEEP_HZ = 1000

Layout = Literal["hls-ts", "hls-fmp4", "dash-number", "dash-time"]
_MPEGTS_WRAP = 2**33
_DASH_NS = "urn:mpeg:dash:schema:mpd:2011"


@dataclass(frozen=True)
class Encoding:
    """How the camera encoded: codec arguments, frame rate, GOP structure, A/V offset."""

    codec_args: tuple[str, ...]
    rate: str = "25"
    scene_frames: tuple[int, ...] = ()
    audio_offset: float = 0.0
    """Seconds the audio is behind the video (negative: it leads)."""
    codec: str = "h264"

    @property
    def fps(self) -> Fraction:
        return Fraction(self.rate)


def _x264(*extra: str, gop: int = 50) -> tuple[str, ...]:
    # FFmpeg's x264 defaults (preset medium: 3 B-frames, B-pyramid, weighted prediction).
    return ("-c:v", "libx264", "-g", str(gop), *extra)


def _x265(params: str) -> tuple[str, ...]:
    return ("-c:v", "libx265", "-x265-params", f"log-level=error:{params}")


_SCENES = (23, 61, 90, 147, 168, 205)

ENCODINGS: dict[str, Encoding] = {
    "h264": Encoding(_x264()),
    # A DASH $Number$ template without a timeline says every segment lasts the same: the
    # packager needs keyframes on the dot, so the encoder's scene-cut keyframes are off.
    "h264-fixed-gop": Encoding(_x264("-keyint_min", "50", "-sc_threshold", "0")),
    "h264-open-gop": Encoding(_x264("-x264-params", "open-gop=1")),
    # x265's default open GOP (CRA keyframes with leading pictures).
    "hevc": Encoding(_x265("keyint=50:min-keyint=50:bframes=4"), codec="hevc"),
    # DASH packagers want closed GOPs (and FFmpeg's fragmented MP4 muxer mistimes an open
    # GOP's CRA frames, which the corpus check below refuses).
    "hevc-closed-gop": Encoding(
        _x265("keyint=50:min-keyint=50:bframes=4:open-gop=0"), codec="hevc"
    ),
    "h264-baseline": Encoding(_x264("-profile:v", "baseline")),
    "h264-ntsc": Encoding(_x264(gop=60), rate="30000/1001"),
    # Keyframes at the scene cuts (forced: x264's own detection is not reliable on synthetic
    # scenes) and at most every 60 frames: GOPs of 23 to 60 frames.
    "h264-scenecut": Encoding(
        _x264("-force_key_frames", ",".join(f"{n / 25:g}" for n in _SCENES), gop=60),
        scene_frames=_SCENES,
    ),
    "h264-audio-lead": Encoding(_x264(), audio_offset=-0.1),
    "h264-audio-lag": Encoding(_x264(), audio_offset=0.1),
}


@dataclass(frozen=True)
class ArchiveSpec:
    encoding: str
    layout: Layout = "hls-ts"
    seconds: float = 10.0
    segment_seconds: float = 2.0
    split_by_time: bool = False
    """Cut segments every ``segment_seconds`` whether or not a keyframe is there."""
    wrap_at: float | None = None
    """MPEG-TS: seconds into the archive at which the 33-bit timestamps wrap."""
    audio: bool = True


SPECS: dict[str, ArchiveSpec] = {
    "h264-hls-ts": ArchiveSpec("h264"),
    "h264-hls-fmp4": ArchiveSpec("h264", "hls-fmp4"),
    "h264-dash-number": ArchiveSpec("h264-fixed-gop", "dash-number"),
    "h264-dash-time": ArchiveSpec("h264", "dash-time"),
    "h264-open-gop-hls-ts": ArchiveSpec("h264-open-gop"),
    "hevc-hls-ts": ArchiveSpec("hevc"),
    "hevc-dash-time": ArchiveSpec("hevc-closed-gop", "dash-time"),
    "h264-baseline-hls-ts": ArchiveSpec("h264-baseline"),
    "h264-ntsc-hls-ts": ArchiveSpec("h264-ntsc"),
    "h264-scenecut-hls-ts": ArchiveSpec("h264-scenecut"),
    "h264-audio-lead-hls-ts": ArchiveSpec("h264-audio-lead"),
    "h264-audio-lag-hls-ts": ArchiveSpec("h264-audio-lag"),
    "h264-wrap-hls-ts": ArchiveSpec("h264", wrap_at=4.5),
    "h264-unaligned-hls-ts": ArchiveSpec("h264", segment_seconds=1.5, split_by_time=True),
}
"""The corpus: every entry is exercised by every export kind."""


@dataclass(frozen=True)
class Archive:
    """One corpus archive and its ground truth."""

    name: str
    spec: ArchiveSpec
    manifest: Path
    frames: int
    keyframes: tuple[int, ...] = field(default=())
    """Frame numbers of the video keyframes, in display order."""

    @property
    def encoding(self) -> Encoding:
        return ENCODINGS[self.spec.encoding]

    @property
    def fps(self) -> Fraction:
        return self.encoding.fps

    @property
    def url(self) -> str:
        return self.manifest.as_uri()

    @property
    def frame_seconds(self) -> float:
        return float(1 / self.fps)

    def frame_wall(self, n: int) -> datetime:
        """When frame ``n`` was captured."""
        return START + timedelta(microseconds=round(n * 1_000_000 / self.fps))

    def frame_at(self, wall: datetime) -> int:
        """The frame shown at ``wall``: the last one captured at or before it."""
        seconds = Fraction(round((wall - START).total_seconds() * 1_000_000), 1_000_000)
        return math.floor(seconds * self.fps + Fraction(1, 10_000))

    @property
    def end(self) -> datetime:
        return self.frame_wall(self.frames)

    def beep_walls(self) -> list[datetime]:
        offset = timedelta(seconds=self.encoding.audio_offset)
        seconds = int(self.frames / self.fps)
        return [START + timedelta(seconds=k) + offset for k in range(seconds + 1)]


# -- building --------------------------------------------------------------------------------


def build(name: str, root: Path) -> Archive:
    """The archive ``name`` of ``SPECS`` under ``root`` (built unless already there)."""
    spec = SPECS[name]
    directory = root / name
    done = directory / "archive.json"
    with _locked(root / f".{name}.lock"):
        if done.exists():
            return _load(name, spec, json.loads(done.read_text()), directory)
        if directory.exists():
            for stale in directory.iterdir():
                stale.unlink()
        directory.mkdir(parents=True, exist_ok=True)
        raw = _raw_pattern(root, ENCODINGS[spec.encoding], spec.seconds)
        archive = _build(name, spec, directory, raw)
        done.write_text(
            json.dumps(
                {
                    "manifest": archive.manifest.name,
                    "frames": archive.frames,
                    "keyframes": list(archive.keyframes),
                    "spec": asdict(spec),
                }
            )
        )
        return archive


def _load(name: str, spec: ArchiveSpec, data: dict[str, Any], directory: Path) -> Archive:
    return Archive(
        name=name,
        spec=spec,
        manifest=directory / data["manifest"],
        frames=data["frames"],
        keyframes=tuple(data["keyframes"]),
    )


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def run_ffmpeg(args: list[str]) -> None:
    cmd = [ffmpeg_binary(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y", *args]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"ffmpeg failed ({result.returncode}): {result.stderr.strip()}")


def _raw_pattern(root: Path, encoding: Encoding, seconds: float) -> Path:
    """The numbered pattern, lossless (FFV1), made once per rate, length and scene list."""
    scenes = "-".join(map(str, encoding.scene_frames)) or "none"
    rate = encoding.rate.replace("/", "_")
    path = root / f".raw-{rate}-{seconds:g}-{scenes}.mkv"
    with _locked(path.with_suffix(".lock")):
        if not path.exists():
            graph = framecode_graph(
                WIDTH, HEIGHT, encoding.rate, scene_frames=encoding.scene_frames
            )
            partial = path.with_suffix(".part.mkv")
            run_ffmpeg(
                ["-f", "lavfi", "-i", graph, "-t", f"{seconds}", "-c:v", "ffv1", str(partial)]
            )
            partial.rename(path)
    return path


def _beeps(seconds: float) -> str:
    return (
        f"aevalsrc='if(lt(mod(t\\,1)\\,{BEEP_SECONDS})\\,0.5*sin(2*PI*{BEEP_HZ}*t)\\,0)'"
        f":s=48000:d={seconds + 1}"
    )


def _input_args(encoding: Encoding, raw: Path, seconds: float, audio: bool) -> list[str]:
    """Video (and beeping audio) inputs, offset against each other as ``encoding`` says."""
    lead = max(0.0, -encoding.audio_offset)  # the video starts this late
    lag = max(0.0, encoding.audio_offset)  # the audio starts this late
    args = ["-itsoffset", f"{lead:.6f}", "-i", str(raw)]
    if audio:
        args += ["-itsoffset", f"{lag:.6f}", "-f", "lavfi", "-i", _beeps(seconds)]
    args += ["-map", "0:v"]
    if audio:
        args += ["-map", "1:a", "-c:a", "aac", "-ac", "1", "-b:a", "64k"]
    args += [*encoding.codec_args, "-pix_fmt", "yuv420p", "-fps_mode", "passthrough"]
    args += ["-t", f"{seconds + lead:.6f}"]
    return args


def _build(name: str, spec: ArchiveSpec, directory: Path, raw: Path) -> Archive:
    encoding = ENCODINGS[spec.encoding]
    inputs = _input_args(encoding, raw, spec.seconds, spec.audio)
    if spec.layout.startswith("hls"):
        manifest = _build_hls(spec, directory, inputs)
    else:
        manifest = _build_dash(spec, directory, inputs)
    frames, keyframes = _truth(manifest, encoding)
    return Archive(
        name=name,
        spec=spec,
        manifest=manifest,
        frames=frames,
        keyframes=tuple(keyframes),
    )


def _build_hls(spec: ArchiveSpec, directory: Path, inputs: list[str]) -> Path:
    fmp4 = spec.layout == "hls-fmp4"
    muxer_playlist = directory / "ffmpeg.m3u8"
    args = list(inputs)
    if spec.wrap_at is not None:
        args += ["-output_ts_offset", f"{_MPEGTS_WRAP / 90000 - spec.wrap_at:.6f}"]
    flags = ["split_by_time"] if spec.split_by_time else []
    args += ["-f", "hls", "-hls_time", f"{spec.segment_seconds}", "-hls_playlist_type", "vod"]
    if flags:
        args += ["-hls_flags", "+".join(flags)]
    if fmp4:
        args += ["-hls_segment_type", "fmp4", "-hls_fmp4_init_filename", "init.mp4"]
        pattern = "seg%05d.m4s"
    else:
        pattern = "seg%05d.ts"
    args += ["-hls_segment_filename", str(directory / pattern), str(muxer_playlist)]
    run_ffmpeg(args)
    names = [
        line
        for line in muxer_playlist.read_text().splitlines()
        if line and not line.startswith("#")
    ]
    muxer_playlist.unlink()
    init = directory / "init.mp4" if fmp4 else None
    segments = [directory / n for n in names]
    firsts = _segment_first_video(segments, init)
    base = firsts[0]
    lines = [
        "#EXTM3U",
        f"#EXT-X-VERSION:{7 if fmp4 else 3}",
        f"#EXT-X-TARGETDURATION:{math.ceil(spec.segment_seconds * 1.5)}",
        "#EXT-X-MEDIA-SEQUENCE:0",
        "#EXT-X-PLAYLIST-TYPE:VOD",
    ]
    if init is not None:
        lines.append(f'#EXT-X-MAP:URI="{init.name}"')
    total = _video_end(segments, init, base)
    for index, segment in enumerate(segments):
        begin = firsts[index] - base
        end = (firsts[index + 1] - base) if index + 1 < len(segments) else total
        lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{_pdt(START + timedelta(seconds=begin))}")
        lines.append(f"#EXTINF:{end - begin:.6f},")
        lines.append(segment.name)
    lines.append("#EXT-X-ENDLIST")
    playlist = directory / "index.m3u8"
    playlist.write_text("\n".join(lines) + "\n")
    return playlist


def _pdt(value: datetime) -> str:
    return value.isoformat(timespec="microseconds").replace("+00:00", "Z")


def _demux_video(data: bytes) -> list[Any]:
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        tb = float(stream.time_base)
        return [(p.pts * tb, p.is_keyframe) for p in container.demux(stream) if p.pts is not None]


def _segment_first_video(segments: list[Path], init: Path | None) -> list[float]:
    """Each segment's earliest video presentation time, MPEG-TS wraps undone."""
    prefix = init.read_bytes() if init is not None else b""
    wrap = _MPEGTS_WRAP / 90000
    firsts: list[float] = []
    for segment in segments:
        first = min(t for t, _ in _demux_video(prefix + segment.read_bytes()))
        if init is None and firsts:
            while first < firsts[-1] - wrap / 2:
                first += wrap
        firsts.append(first)
    return firsts


def _video_end(segments: list[Path], init: Path | None, base: float) -> float:
    """Seconds from ``base`` to the end of the last video frame."""
    prefix = init.read_bytes() if init is not None else b""
    with av.open(io.BytesIO(prefix + segments[-1].read_bytes())) as container:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate
        times = [
            p.pts * float(stream.time_base) for p in container.demux(stream) if p.pts is not None
        ]
    last = max(times)
    wrap = _MPEGTS_WRAP / 90000
    while last < base:
        last += wrap
    return last - base + float(1 / rate)


def _build_dash(spec: ArchiveSpec, directory: Path, inputs: list[str]) -> Path:
    template = "time" if spec.layout == "dash-time" else "number"
    mpd = directory / "manifest.mpd"
    sets = "id=0,streams=v id=1,streams=a" if spec.audio else "id=0,streams=v"
    media = "chunk-$RepresentationID$-" + ("$Time$" if template == "time" else "$Number%05d$")
    run_ffmpeg(
        [
            *inputs,
            "-f", "dash", "-seg_duration", f"{spec.segment_seconds}",
            "-use_template", "1", "-use_timeline", "1" if template == "time" else "0",
            "-init_seg_name", "init-$RepresentationID$.m4s", "-media_seg_name", media + ".m4s",
            "-adaptation_sets", sets, str(mpd),
        ]
    )  # fmt: skip
    for prefix, uri in (
        ("", _DASH_NS),
        ("xsi", "http://www.w3.org/2001/XMLSchema-instance"),
        ("xlink", "http://www.w3.org/1999/xlink"),
    ):
        ET.register_namespace(prefix, uri)
    tree = ET.parse(mpd)
    root = tree.getroot()
    ns = {"d": _DASH_NS}
    period = root.find("d:Period", ns)
    assert period is not None
    period_start = _iso_seconds(period.get("start", "PT0S"))
    video = next(
        a for a in period.findall("d:AdaptationSet", ns) if a.get("contentType") == "video"
    )
    rep = video.find("d:Representation", ns)
    assert rep is not None
    tmpl = rep.find("d:SegmentTemplate", ns)
    assert tmpl is not None
    timescale = int(tmpl.get("timescale", "1"))
    pto = int(tmpl.get("presentationTimeOffset", "0"))
    s0 = tmpl.find("d:SegmentTimeline/d:S", ns)
    first_t = int(s0.get("t", "0")) if s0 is not None else pto
    if template == "time":
        _rename_time_segments(directory, root, ns)
    rep_id = rep.get("id", "")
    init = directory / f"init-{rep_id}.m4s"
    first = min(directory.glob(f"chunk-{rep_id}-*.m4s"), key=_segment_number)
    earliest = min(t for t, _ in _demux_video(init.read_bytes() + first.read_bytes()))
    if abs(earliest - first_t / timescale) > 1e-6:
        raise AssertionError(f"first video frame at {earliest}, segment time {first_t}/{timescale}")
    offset = period_start + (first_t - pto) / timescale
    root.set("availabilityStartTime", _pdt(START - timedelta(seconds=offset)))
    root.set("type", "static")
    tree.write(mpd, xml_declaration=True, encoding="utf-8")
    return mpd


def _iso_seconds(text: str) -> float:
    match = re.fullmatch(r"PT(?:(\d+(?:\.\d*)?)H)?(?:(\d+(?:\.\d*)?)M)?(?:(\d+(?:\.\d*)?)S)?", text)
    if not match:
        raise ValueError(f"unsupported duration {text!r}")
    h, m, s = (float(g or 0) for g in match.groups())
    return h * 3600 + m * 60 + s


def _segment_number(path: Path) -> int:
    return int(path.stem.split("-", 2)[2])


def _rename_time_segments(directory: Path, root: ET.Element, ns: dict[str, str]) -> None:
    """Name ``$Time$`` segments by the MPD's timeline (FFmpeg names AAC's first by its priming)."""
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
        files = sorted(directory.glob(f"chunk-{rep_id}-*.m4s"), key=_segment_number)
        if len(files) != len(times):
            raise AssertionError(f"representation {rep_id}: {len(files)} files, {len(times)} S")
        for path, t in zip(files, times, strict=True):
            target = directory / f"chunk-{rep_id}-{t}.m4s"
            if path != target:
                path.rename(target)


def _truth(manifest: Path, encoding: Encoding) -> tuple[int, list[int]]:
    """Frame count and keyframe numbers, read from the pixels of the whole archive."""
    directory = manifest.parent
    if manifest.suffix == ".m3u8":
        names = [
            line for line in manifest.read_text().splitlines() if line and not line.startswith("#")
        ]
        init = directory / "init.mp4"
        prefix = [init] if init.exists() else []
        parts = [*prefix, *(directory / n for n in names)]
    else:
        init = directory / "init-0.m4s"
        parts = [init, *sorted(directory.glob("chunk-0-*.m4s"), key=_segment_number)]
    blob = b"".join(p.read_bytes() for p in parts)
    numbers: list[int | None] = []
    keyframes: list[int] = []
    times: list[float] = []
    with av.open(io.BytesIO(blob)) as container:
        for frame in container.decode(video=0):
            number = read_frame_number(frame)
            numbers.append(number)
            times.append(float(frame.time))
            if frame.key_frame and number is not None:
                keyframes.append(number)
    if numbers != list(range(len(numbers))):
        raise AssertionError(f"{manifest}: frames are not 0..N-1: {numbers[:20]}...")
    # Each frame's presentation time must be its number's (a muxer may mistime some).
    wrap = _MPEGTS_WRAP / 90000
    for n, t in enumerate(times):
        expected = times[0] + n / float(encoding.fps)
        if min(abs(t - expected), abs(t + wrap - expected)) > 0.002:
            raise AssertionError(f"{manifest}: frame {n} is presented at {t}, not {expected}")
    return len(numbers), sorted(keyframes)
