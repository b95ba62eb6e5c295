"""The benchmark's camera archive: made once by FFmpeg, cached, reused by every run.

A 10-minute 1080p25 recording is what the issue's numbers are about, and
encoding one takes minutes on two cores, so it is generated once per set of
parameters into a cache directory outside the repository's tracked files
(``$VEXPORT_BENCH_CACHE``, else ``$XDG_CACHE_HOME/vexport-bench``, else
``~/.cache/vexport-bench``), in a folder named after a hash of the parameters
and the FFmpeg version. A run that finds the folder complete uses it as is.

What it holds (``ArchiveSpec`` says the numbers):

- one encode, FFmpeg's x264 defaults (preset medium: three B-frames with a
  B-pyramid, closed GOPs) at an average bitrate, a fixed GOP (``-g``) and no
  scene cuts, plus AAC audio; the picture is ``testsrc2`` (moving colour bars,
  a gradient and a clock) with light temporal noise, as a camera sensor adds,
  and the frame number drawn large, so encoders really work and a frame can be
  identified by eye;
- the same packets remuxed (``-c copy``) into an HLS/TS archive whose playlist
  carries ``EXT-X-PROGRAM-DATE-TIME`` on every segment, and into a DASH/fMP4
  archive (``$Number$`` template) with ``availabilityStartTime``, both set so
  that frame N is at ``spec.start + N / fps`` on vexport's wall clock (the
  first video frame of a segment is what both anchors mean; see
  ``vexport.sources.archive_index``).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import math
import os
import re
import shutil
import subprocess
import time
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path

import av

from vexport.fonts import font_path
from vexport.media.ffmpeg import ffmpeg_binary

__all__ = ["Archive", "ArchiveSpec", "cache_root", "ensure_archive"]

_GENERATOR_VERSION = 1  # bump when the recipe below changes: a new cache folder
_DASH_NS = "urn:mpeg:dash:schema:mpd:2011"
_COMPLETE = "complete.json"


@dataclass(frozen=True)
class ArchiveSpec:
    """What to record; every field is part of the cache key."""

    width: int = 1920
    height: int = 1080
    fps: int = 25
    seconds: float = 600.0
    video_kbps: int = 4000
    gop_frames: int = 50  # 2 s at 25 fps: one segment per GOP
    segment_seconds: float = 2.0
    audio_kbps: int = 128
    noise: int = 6  # noise filter strength (0: none)
    start: str = "2026-01-01T00:00:00+00:00"

    @property
    def start_time(self) -> datetime:
        return datetime.fromisoformat(self.start)

    def key(self, ffmpeg_version: str) -> str:
        text = json.dumps(
            {"spec": asdict(self), "generator": _GENERATOR_VERSION, "ffmpeg": ffmpeg_version},
            sort_keys=True,
        )
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def label(self) -> str:
        minutes = self.seconds / 60
        length = f"{minutes:g} min" if self.seconds >= 60 else f"{self.seconds:g} s"
        return (
            f"{length} {self.width}x{self.height}p{self.fps} H.264 (x264 defaults, "
            f"{self.video_kbps / 1000:g} Mb/s, GOP {self.gop_frames}) + AAC {self.audio_kbps}k"
        )


@dataclass(frozen=True)
class Archive:
    spec: ArchiveSpec
    directory: Path
    hls: Path  # index.m3u8
    dash: Path  # manifest.mpd
    hls_segments: tuple[Path, ...] = field(default=())
    generated_seconds: float | None = None  # None: found in the cache

    def frame_time(self, n: int) -> datetime:
        return self.spec.start_time + timedelta(microseconds=round(n * 1_000_000 / self.spec.fps))

    def hls_segments_covering(self, start: float, end: float) -> list[Path]:
        """The TS segments holding seconds [start, end) of the archive (from its start)."""
        per = self.spec.segment_seconds
        first = int(start // per)
        last = min(len(self.hls_segments) - 1, int(-(-end // per)) - 1)
        return list(self.hls_segments[first : last + 1])


def cache_root() -> Path:
    configured = os.environ.get("VEXPORT_BENCH_CACHE")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "vexport-bench"


def ffmpeg_version(ffmpeg: str) -> str:
    out = subprocess.run([ffmpeg, "-version"], capture_output=True, text=True, check=True).stdout
    return out.splitlines()[0].removeprefix("ffmpeg version ").split(" Copyright")[0]


def ensure_archive(spec: ArchiveSpec, *, root: Path | None = None, log: bool = True) -> Archive:
    """The cached archive for ``spec``, generated first if it is not there yet."""
    ffmpeg = ffmpeg_binary()
    folder = (root or cache_root()) / f"archive-{spec.key(ffmpeg_version(ffmpeg))}"
    generated: float | None = None
    folder.parent.mkdir(parents=True, exist_ok=True)
    # One generator at a time: a second process (another checkout's bench, the smoke
    # test) waits for the first instead of wiping its half-written archive.
    with (folder.parent / f"{folder.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / _COMPLETE).is_file():
            generated = _generate_into(spec, folder, ffmpeg, log=log)
    segments = tuple(sorted((folder / "hls").glob("seg*.ts")))
    return Archive(
        spec,
        folder,
        folder / "hls" / "index.m3u8",
        folder / "dash" / "manifest.mpd",
        segments,
        generated,
    )


def _generate_into(spec: ArchiveSpec, folder: Path, ffmpeg: str, *, log: bool) -> float:
    """Generates the archive beside ``folder`` and moves it there whole; the seconds it took."""
    if log:
        print(f"generating the benchmark archive ({spec.label()}) into {folder} ...")
    began = time.perf_counter()
    building = folder.with_name(folder.name + ".partial")
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir(parents=True)
    _generate(spec, building, ffmpeg)
    (building / _COMPLETE).write_text(json.dumps(asdict(spec), indent=2) + "\n")
    shutil.rmtree(folder, ignore_errors=True)
    building.rename(folder)
    generated = time.perf_counter() - began
    if log:
        print(f"  generated in {generated:.0f} s")
    return generated


def _run(ffmpeg: str, args: list[str]) -> None:
    command = [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"ffmpeg failed ({result.returncode}): {result.stderr.strip()}")


def _generate(spec: ArchiveSpec, folder: Path, ffmpeg: str) -> None:
    source = folder / "source.mkv"
    font = str(font_path(monospace=True)).replace(":", "\\:")
    size = max(24, spec.height // 12)
    picture = [f"testsrc2=size={spec.width}x{spec.height}:rate={spec.fps}"]
    if spec.noise:
        picture.append(f"noise=alls={spec.noise}:allf=t")
    picture.append(
        f"drawtext=fontfile={font}:text='%{{frame_num}}':fontsize={size}:fontcolor=white:"
        f"box=1:boxcolor=black@0.6:x=w-tw-{size // 2}:y={size // 2}"
    )
    tone = "sine=frequency=440:sample_rate=48000,aformat=channel_layouts=stereo"
    kbps = spec.video_kbps
    _run(
        ffmpeg,
        [
            "-f", "lavfi", "-i", ",".join(picture),
            "-f", "lavfi", "-i", tone,
            "-t", f"{spec.seconds:.3f}", "-map", "0:v", "-map", "1:a",
            # x264's defaults (preset medium, 3 B-frames, B-pyramid) at an average
            # bitrate with a VBV, a fixed GOP and no scene-cut keyframes.
            "-c:v", "libx264", "-b:v", f"{kbps}k", "-maxrate", f"{kbps * 5 // 4}k",
            "-bufsize", f"{kbps * 2}k", "-g", str(spec.gop_frames),
            "-keyint_min", str(spec.gop_frames), "-sc_threshold", "0", "-pix_fmt", "yuv420p",
            "-c:a", "aac", "-b:a", f"{spec.audio_kbps}k",
            str(source),
        ],
    )  # fmt: skip
    _make_hls(spec, source, folder / "hls", ffmpeg)
    _make_dash(spec, source, folder / "dash", ffmpeg)
    source.unlink()


def _format_pdt(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _first_video_pts(path: Path) -> Fraction:
    """Presentation time of the first video packet (closed GOPs: the keyframe, shown first)."""
    with av.open(str(path), "r") as container:
        for packet in container.demux(video=0):
            if packet.pts is not None:
                return Fraction(packet.pts) * Fraction(packet.time_base)
    raise RuntimeError(f"{path.name}: no video packet")


def _make_hls(spec: ArchiveSpec, source: Path, folder: Path, ffmpeg: str) -> None:
    folder.mkdir()
    muxer_playlist = folder / "ffmpeg.m3u8"
    _run(
        ffmpeg,
        [
            "-i", str(source), "-map", "0", "-c", "copy", "-f", "hls",
            "-hls_time", f"{spec.segment_seconds:g}", "-hls_playlist_type", "vod",
            "-hls_segment_filename", str(folder / "seg%05d.ts"), str(muxer_playlist),
        ],
    )  # fmt: skip
    names = [line for line in muxer_playlist.read_text().splitlines() if line and line[0] != "#"]
    muxer_playlist.unlink()
    segments = [folder / name for name in names]
    firsts = [_first_video_pts(segment) for segment in segments]
    total = Fraction(round(spec.seconds * spec.fps), spec.fps)
    starts = [first - firsts[0] for first in firsts]
    ends = [*starts[1:], total]
    longest = max(end - begin for begin, end in zip(starts, ends, strict=True))
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:3",
        f"#EXT-X-TARGETDURATION:{math.ceil(longest)}",
        "#EXT-X-MEDIA-SEQUENCE:0",
        "#EXT-X-PLAYLIST-TYPE:VOD",
    ]
    for segment, begin, end in zip(segments, starts, ends, strict=True):
        wall = spec.start_time + timedelta(seconds=float(begin))
        lines += [
            f"#EXT-X-PROGRAM-DATE-TIME:{_format_pdt(wall)}",
            f"#EXTINF:{float(end - begin):.6f},",
            segment.name,
        ]
    lines.append("#EXT-X-ENDLIST")
    (folder / "index.m3u8").write_text("\n".join(lines) + "\n")


def _iso_seconds(text: str) -> float:
    match = re.fullmatch(r"PT(?:([\d.]+)H)?(?:([\d.]+)M)?(?:([\d.]+)S)?", text)
    if not match:
        raise ValueError(f"unsupported duration {text!r}")
    h, m, s = (float(g or 0) for g in match.groups())
    return h * 3600 + m * 60 + s


def _make_dash(spec: ArchiveSpec, source: Path, folder: Path, ffmpeg: str) -> None:
    folder.mkdir()
    mpd = folder / "manifest.mpd"
    _run(
        ffmpeg,
        [
            "-i", str(source), "-map", "0", "-c", "copy", "-f", "dash",
            "-seg_duration", f"{spec.segment_seconds:g}", "-use_template", "1",
            "-use_timeline", "0", "-init_seg_name", "init-$RepresentationID$.m4s",
            "-media_seg_name", "chunk-$RepresentationID$-$Number%05d$.m4s",
            "-adaptation_sets", "id=0,streams=v id=1,streams=a", str(mpd),
        ],
    )  # fmt: skip
    # FFmpeg writes no availabilityStartTime for a static MPD: set it so that the
    # first video frame is at spec.start.
    ET.register_namespace("", _DASH_NS)
    for prefix, uri in (
        ("xsi", "http://www.w3.org/2001/XMLSchema-instance"),
        ("xlink", "http://www.w3.org/1999/xlink"),
    ):
        ET.register_namespace(prefix, uri)
    tree = ET.parse(mpd)
    root = tree.getroot()
    ns = {"d": _DASH_NS}
    period = root.find("d:Period", ns)
    assert period is not None
    # vexport dates a segment by its first video frame, so whatever that frame's
    # media time, segment 1 starts at AST + Period@start.
    offset = _iso_seconds(period.get("start", "PT0S"))
    root.set("availabilityStartTime", _format_pdt(spec.start_time - timedelta(seconds=offset)))
    root.set("type", "static")
    tree.write(mpd, xml_declaration=True, encoding="utf-8")
