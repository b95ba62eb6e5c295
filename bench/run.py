"""Benchmarks: vexport against plain ffmpeg on the same input, in the same run.

Prints wall-clock times and their ratio for:
- archive clip by stream copy (HLS/TS archive -> MP4), vexport's runner versus
  ``ffmpeg -i playlist -ss .. -to .. -c copy``;
- archive snapshot (JPEG), vexport versus ``ffmpeg -ss .. -i .. -frames:v 1``;
- archive clip re-encoded to H.264 with a timestamp overlay, on a 1280x720
  textured archive, vexport versus ``ffmpeg -ss .. -to .. -vf drawtext=..
  -c:v libx264 -preset veryfast -crf 23 -c:a aac`` (the same encoder settings
  and the same font; the target is vexport at most 5 % slower).

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
from vexport.fonts import font_path  # noqa: E402
from vexport.media.control import SimpleJobControl  # noqa: E402
from vexport.media.ffmpeg import ffmpeg_binary  # noqa: E402
from vexport.media.plan import ContainerFormat, ExportKind, ExportPlan, SourcePlan  # noqa: E402
from vexport.media.rendering import Rendering, VideoCodec, VideoEncoding  # noqa: E402
from vexport.media.runner import run_export  # noqa: E402
from vexport.media.text import TextOverlay  # noqa: E402
from vexport.sources.archive_index import load_archive_index  # noqa: E402
from vexport.storage import default_reader  # noqa: E402

START = datetime(2026, 1, 1, tzinfo=UTC)
ARCHIVE_SECONDS = 120.0
REPEATS = 5
TRANSCODE_REPEATS = 3
TRANSCODE_SECONDS = 20.0


def _best(action: Callable[[], None], repeats: int = REPEATS) -> float:
    times = []
    for _ in range(repeats):
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
                start=START + timedelta(seconds=clip_from),
                end=START + timedelta(seconds=clip_to),
            )
            run_export(plan, SimpleJobControl(), workdir=work / "vexport")

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
                start=START + timedelta(seconds=61.3),
            )
            run_export(plan, SimpleJobControl(), workdir=work / "vexport-snap")

        def ffmpeg_snapshot() -> None:
            subprocess.run(
                [ffmpeg, "-v", "error", "-y", "-ss", "61.3", "-i", str(playlist),
                 "-frames:v", "1", "-q:v", "3", str(work / "ffmpeg.jpg")],
                check=True,
            )  # fmt: skip

        print("generating a 30 s textured HLS archive (1280x720, 25 fps)...")
        textured = _textured_archive(work / "textured", ffmpeg)
        textured_start = load_archive_index(textured.as_uri(), default_reader()).start
        assert textured_start is not None
        overlay_source = SourcePlan(
            origin="bench",
            name="bench",
            archive_url=textured.as_uri(),
            text=TextOverlay(timestamp_format="%Y-%m-%d %H:%M:%S"),
        )
        cut_from, cut_to = 4.0, 4.0 + TRANSCODE_SECONDS

        def vexport_transcode() -> None:
            plan = ExportPlan(
                kind=ExportKind.ARCHIVE_CLIP,
                sources=(overlay_source,),
                container=ContainerFormat.MP4,
                start=textured_start + timedelta(seconds=cut_from),
                end=textured_start + timedelta(seconds=cut_to),
                rendering=Rendering(video=VideoEncoding(codec=VideoCodec.H264)),
            )
            run_export(plan, SimpleJobControl(), workdir=work / "vexport-transcode")

        def ffmpeg_transcode() -> None:
            epoch = textured_start.timestamp()
            drawtext = (
                f"drawtext=fontfile={font_path()}:fontsize=24:fontcolor=white:box=1:"
                f"boxcolor=black@0.5:x=10:y=h-th-10:"
                f"text='%{{pts\\:gmtime\\:{epoch:.0f}\\:%Y-%m-%d %H\\\\\\:%M\\\\\\:%S}}'"
            )
            subprocess.run(
                [ffmpeg, "-v", "error", "-y", "-i", str(textured), "-ss", str(cut_from),
                 "-to", str(cut_to), "-vf", drawtext, "-c:v", "libx264", "-preset", "veryfast",
                 "-crf", "23", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k",
                 str(work / "ffmpeg-transcode.mp4")],
                check=True,
            )  # fmt: skip

        rows = [
            ("archive clip 90 s, stream copy to MP4", vexport_clip, ffmpeg_clip, REPEATS),
            ("archive snapshot JPEG", vexport_snapshot, ffmpeg_snapshot, REPEATS),
            (
                f"720p clip {TRANSCODE_SECONDS:.0f} s, H.264 + timestamp overlay",
                vexport_transcode,
                ffmpeg_transcode,
                TRANSCODE_REPEATS,
            ),
        ]
        print(f"{'benchmark':42} {'vexport':>9} {'ffmpeg':>9} {'ratio':>7}")
        for name, ours, theirs, repeats in rows:
            ours_time = _best(ours, repeats)
            theirs_time = _best(theirs, repeats)
            print(
                f"{name:42} {ours_time:8.3f}s {theirs_time:8.3f}s {ours_time / theirs_time:6.2f}x"
            )


def _textured_archive(directory: Path, ffmpeg: str) -> Path:
    """A detailed 720p archive with audio: flat test frames would make encoding free."""
    directory.mkdir(parents=True)
    playlist = directory / "index.m3u8"
    subprocess.run(
        [ffmpeg, "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=25",
         "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "30",
         "-c:v", "libx264", "-preset", "veryfast", "-g", "50", "-c:a", "aac",
         "-f", "hls", "-hls_time", "2", "-hls_list_size", "0",
         "-hls_flags", "program_date_time", str(playlist)],
        check=True,
    )  # fmt: skip
    return playlist


if __name__ == "__main__":
    main()
