"""Benchmarks: vexport against plain ffmpeg on the same input, in the same run.

Prints wall-clock times and their ratio for:
- archive clip by stream copy (HLS/TS archive -> MP4), vexport's runner versus
  ``ffmpeg -i playlist -ss .. -to .. -c copy``;
- archive snapshot (JPEG), vexport versus ``ffmpeg -ss .. -i .. -frames:v 1``.

Run with ``make bench``. Numbers are for comparison within one run on one
machine, never assertions.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.media_fixtures import make_hls_archive  # noqa: E402
from vexport.media.control import SimpleJobControl  # noqa: E402
from vexport.media.ffmpeg import ffmpeg_binary  # noqa: E402
from vexport.media.plan import ContainerFormat, ExportKind, ExportPlan, SourcePlan  # noqa: E402
from vexport.media.runner import run_export  # noqa: E402

START = datetime(2026, 1, 1, tzinfo=UTC)
ARCHIVE_SECONDS = 120.0
REPEATS = 5


def _best(action: Callable[[], None]) -> float:
    times = []
    for _ in range(REPEATS):
        began = time.perf_counter()
        action()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        print(f"generating a {ARCHIVE_SECONDS:.0f} s HLS archive (320x180, 25 fps)...")
        playlist = make_hls_archive(work / "archive", START, ARCHIVE_SECONDS)
        ffmpeg = ffmpeg_binary()
        clip_from, clip_to = 10.5, 100.5
        source = SourcePlan(origin="bench", name="bench", archive_url=playlist.as_uri())

        def vexport_clip() -> None:
            plan = ExportPlan(
                kind=ExportKind.ARCHIVE_CLIP,
                sources=(source,),
                container=ContainerFormat.MP4,
                output_dir=work / "vexport",
                start=START + timedelta(seconds=clip_from),
                end=START + timedelta(seconds=clip_to),
            )
            run_export(plan, SimpleJobControl())

        def ffmpeg_clip() -> None:
            subprocess.run(
                [ffmpeg, "-v", "error", "-y", "-i", str(playlist), "-ss", str(clip_from),
                 "-to", str(clip_to), "-c", "copy", str(work / "ffmpeg.mp4")],
                check=True,
            )  # fmt: skip

        def vexport_snapshot() -> None:
            plan = ExportPlan(
                kind=ExportKind.ARCHIVE_SNAPSHOT,
                sources=(source,),
                container=ContainerFormat.JPEG,
                output_dir=work / "vexport-snap",
                start=START + timedelta(seconds=61.3),
            )
            run_export(plan, SimpleJobControl())

        def ffmpeg_snapshot() -> None:
            subprocess.run(
                [ffmpeg, "-v", "error", "-y", "-ss", "61.3", "-i", str(playlist),
                 "-frames:v", "1", "-q:v", "3", str(work / "ffmpeg.jpg")],
                check=True,
            )  # fmt: skip

        rows = [
            ("archive clip 90 s, stream copy to MP4", vexport_clip, ffmpeg_clip),
            ("archive snapshot JPEG", vexport_snapshot, ffmpeg_snapshot),
        ]
        print(f"{'benchmark':42} {'vexport':>9} {'ffmpeg':>9} {'ratio':>7}")
        for name, ours, theirs in rows:
            ours_time = _best(ours)
            theirs_time = _best(theirs)
            print(
                f"{name:42} {ours_time:8.3f}s {theirs_time:8.3f}s {ours_time / theirs_time:6.2f}x"
            )


if __name__ == "__main__":
    main()
