"""Benchmark: what privacy masks and a crop cost, per frame, at 720p.

250 frames of a busy 1280x720 picture (decoded once into a raw file, so the
source costs the same for every row) go through vexport's privacy graph
into ``-f null`` (the filters alone) and into libx264 veryfast (a real
re-encode). Two polygons cover about a quarter of the frame.

Run with ``.venv/bin/python bench/privacy.py``. Numbers compare rows of one
run on one machine, never assertions.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from vexport.media.ffmpeg import ffmpeg_binary  # noqa: E402
from vexport.media.privacy import Area, Privacy, privacy_graph  # noqa: E402

W, H, FRAMES, REPEATS = 1280, 720, 250, 3
POLYGONS = (
    ((0.1, 0.1), (0.45, 0.1), (0.45, 0.5), (0.1, 0.5)),
    ((0.6, 0.5), (0.9, 0.55), (0.75, 0.95)),
)
CASES: list[tuple[str, Privacy | None]] = [
    ("no mask", None),
    ("solid mask", Privacy(masks=POLYGONS, fill="#808080")),
    ("mosaic mask", Privacy(masks=POLYGONS)),
    ("mosaic, inverted", Privacy(masks=POLYGONS, invert=True)),
    ("crop only", Privacy(crop=Area(0.25, 0.25, 0.75, 0.75))),
    ("mosaic + crop", Privacy(masks=POLYGONS, crop=Area(0.25, 0.25, 0.75, 0.75))),
]


def _time(command: list[str]) -> float:
    times = []
    for _ in range(REPEATS):
        began = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def main() -> None:
    ffmpeg = ffmpeg_binary()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        source = work / "source.nut"
        subprocess.run(
            [ffmpeg, "-v", "error", "-f", "lavfi", "-i", f"testsrc2=s={W}x{H}:r=25",
             "-frames:v", str(FRAMES), "-pix_fmt", "yuv420p", "-c:v", "rawvideo", str(source)],
            check=True,
        )  # fmt: skip
        print(f"{FRAMES} frames {W}x{H}; median of {REPEATS}")
        print(f"{'case':20} {'filters':>9} {'ms/frame':>9} {'+x264':>9} {'ms/frame':>9}")
        for name, privacy in CASES:
            graph = "[0:v]null[out]"
            if privacy is not None:
                graph = privacy_graph(
                    privacy, width=W, height=H, workdir=work, src="0:v", dst="out"
                )
            base = [ffmpeg, "-v", "error", "-nostdin", "-i", str(source),
                    "-filter_complex", graph, "-map", "[out]"]  # fmt: skip
            filters = _time([*base, "-f", "null", "-"])
            encoded = _time(
                [*base, "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-y",
                 str(work / "out.mp4")]
            )  # fmt: skip
            print(
                f"{name:20} {filters:8.3f}s {filters / FRAMES * 1000:8.2f} "
                f"{encoded:8.3f}s {encoded / FRAMES * 1000:8.2f}"
            )


if __name__ == "__main__":
    main()
