"""Benchmark: 20 thumbnails of the cached 10-minute 1080p archive at 320 px, against ffmpeg.

A timeline of an archive asks for a row of small pictures at once. vexport
renders them with ``Discovery.thumbnails`` (what the HTTP and gRPC routes run
on their pool): the keyframe at or before each instant (the default), or,
with ``exact``, the frame shown at it. Each run starts with a fresh
``Discovery`` (no cached manifest, no cached picture). ffmpeg does the same
20 pictures as a user would script it, one process per instant: ``ffmpeg
-ss T -i index.m3u8 -frames:v 1 -vf scale=320:-1 out.jpg`` (its input seek
decodes from the keyframe before T to the frame at T: the exact kind), and
``ffmpeg -i SEGMENT -ss t ...`` on the segment holding T (an input seek into
a lone TS segment gives no frame with the bundled FFmpeg).

Run with ``.venv/bin/python bench/thumbnails.py`` (the archive is generated
once and cached, see ``bench/archive.py``). Numbers compare rows of one run
on one machine, never assertions; ``docs/performance.md`` has the last one.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from bench.archive import ArchiveSpec, ensure_archive  # noqa: E402
from vexport.config import ArchiveConfig, SourceConfig  # noqa: E402
from vexport.discovery import Discovery, ImageSpec  # noqa: E402
from vexport.media.ffmpeg import ffmpeg_binary  # noqa: E402
from vexport.sources.catalog import Catalog  # noqa: E402
from vexport.storage import default_reader  # noqa: E402

COUNT, WIDTH, RUNS = 20, 320, 3
ORIGIN = "bench/camera"
TARGET_SECONDS = 2.0


def instants(seconds: float) -> list[float]:
    """20 instants spread over the archive, none on a keyframe (13 frames into a GOP)."""
    step = (seconds - 30) / COUNT
    return [10.52 + k * step for k in range(COUNT)]


def vexport_run(playlist: Path, offsets: list[float], spec: ArchiveSpec, exact: bool) -> float:
    archive = ArchiveConfig(storage="main", url=playlist.as_uri())
    catalog = Catalog([SourceConfig(origin=ORIGIN, archives=[archive])])
    discovery = Discovery(catalog, default_reader())
    times = [spec.start_time + timedelta(seconds=s) for s in offsets]
    began = time.perf_counter()
    images = discovery.thumbnails(
        discovery.archive(ORIGIN), times, ImageSpec(width=WIDTH), exact=exact
    )
    elapsed = time.perf_counter() - began
    discovery.close()
    failed = [i for i in images if i.error]
    if failed:
        raise SystemExit(f"{len(failed)} thumbnails failed: {failed[0].message}")
    return elapsed


Command = Callable[[int, float], list[str]]


def ffmpeg_run(command: Command, offsets: list[float], out: Path) -> float:
    """One ffmpeg process per picture, as a script would run them."""
    ffmpeg = ffmpeg_binary()
    began = time.perf_counter()
    for n, offset in enumerate(offsets):
        args = [*command(n, offset), "-frames:v", "1", "-vf", f"scale={WIDTH}:-1"]
        subprocess.run([ffmpeg, "-v", "error", "-y", *args, str(out / f"{n}.jpg")], check=True)
    return time.perf_counter() - began


def main() -> None:
    spec = ArchiveSpec()
    archive = ensure_archive(spec)
    offsets = instants(spec.seconds)
    per = spec.segment_seconds

    def playlist(n: int, offset: float) -> list[str]:
        return ["-ss", f"{offset:.3f}", "-i", str(archive.hls)]

    def segment(n: int, offset: float) -> list[str]:
        # An input seek (-ss before -i) into one TS segment gives no frame with this
        # FFmpeg build, so the seek is on the output side: decode from the segment's start.
        path = archive.hls_segments[int(offset // per)]
        return ["-i", str(path), "-ss", f"{offset % per:.3f}"]

    rows: dict[str, list[float]] = {
        "vexport keyframes": [],
        "vexport exact": [],
        "ffmpeg": [],
        "ffmpeg per segment": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(RUNS):  # alternating, so a change in the machine's load hits every row
            rows["vexport keyframes"].append(vexport_run(archive.hls, offsets, spec, False))
            rows["vexport exact"].append(vexport_run(archive.hls, offsets, spec, True))
            rows["ffmpeg"].append(ffmpeg_run(playlist, offsets, Path(tmp)))
            rows["ffmpeg per segment"].append(ffmpeg_run(segment, offsets, Path(tmp)))
    ffmpeg = statistics.median(rows["ffmpeg"])
    print(f"{COUNT} thumbnails at {WIDTH} px of {spec.label()}, median of {RUNS} runs")
    print(f"{'case':<20} {'seconds':>8} {'per image':>10} {'vs ffmpeg':>10}")
    for name, times in rows.items():
        median = statistics.median(times)
        print(f"{name:<20} {median:8.3f} {median / COUNT * 1000:8.1f}ms {median / ffmpeg:9.2f}x")
    keyframes = statistics.median(rows["vexport keyframes"])
    verdict = "met" if keyframes < TARGET_SECONDS else "not met"
    print(f"target: {COUNT} in under {TARGET_SECONDS:g} s: {verdict} ({keyframes:.2f} s)")


if __name__ == "__main__":
    main()
