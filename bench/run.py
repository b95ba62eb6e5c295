"""vexport end to end through its API against the ffmpeg command a user would type.

``make bench`` (or ``.venv/bin/python -m bench.run``) runs every case on a
cached 10-minute 1080p25 camera archive (``bench/archive.py``): a real
``vexport serve`` process is driven over gRPC from StartSession until the
last byte of every result file is downloaded with DownloadFile, and the
plain-ffmpeg command for the same job runs on the same input in the same
run, the two interleaved, several runs each. It prints a table of medians
and ratios, what each side produced, and the machine. Numbers are for
comparing within one run on one machine, never assertions.

Cases (times are frame-exact, chosen between keyframes):

1. a 5-minute stream copy to MP4, against ``ffmpeg -f concat -safe 0 -i
   list.txt -c copy`` of the segments covering the range, and for reference
   ``ffmpeg -ss A -to B -i index.m3u8 -c copy``; the same from the DASH archive;
2. the same to MPEG-TS;
3. the same as a smart cut, against vexport's own copy (``SMART_CUT_MEDIA``);
4. a 60-second H.264 transcode with a timestamp overlay, against ffmpeg with
   ``drawtext`` (same font and size, x264 ``veryfast`` CRF 23, AAC 128k: what
   vexport's quality mapping gives for an unspecified quality);
5. a snapshot (JPEG) between keyframes, against ``ffmpeg -ss T -i … -frames:v 1``;
6. DownloadFile throughput of a 1 GiB result file over gRPC and over HTTP
   ``Range`` requests, against reading the file from the page cache.

``--profile DIR`` then runs each vexport case once more with py-spy
attached to the server (``pip install py-spy``) and prints where its
threads spent the time. ``--update-doc`` writes the table into
``docs/performance.md``. ``--smoke`` runs a seconds-long 320x180 version.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench.archive import Archive, ArchiveSpec, ensure_archive
from bench.harness import BenchServer
from bench.measure import Case, Measure, Run, Variant, cpu_of, ffmpeg_run, run_cases, self_cpu
from bench.profiling import profile
from bench.report import Report, load_average, machine, update_doc
from vexport.fonts import font_path
from vexport.media.ffmpeg import ffmpeg_binary
from vexport.media.text import DEFAULT_FONT_SIZE, TextOverlay, font_pixels
from vexport.protos.axxonsoft.bl.mmexport import Export_pb2 as pb
from vexport.timeutil import format_timestamp

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "performance.md"

# Server [media] settings of the copy cases and of the smart-cut case (`[media] cut`:
# "keyframe" copies from the keyframe before the start and re-encodes nothing; "smart",
# the default, re-encodes the partial groups of pictures at the ends).
COPY_MEDIA: dict[str, Any] = {"cut": "keyframe"}
SMART_CUT_MEDIA: dict[str, Any] = {"cut": "smart"}

TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"
HLS_ORIGIN = "bench/hls"
DASH_ORIGIN = "bench/dash"
STORAGE = "bench/archive"


@dataclass(frozen=True)
class Scenario:
    """The archive and the frames each case asks for (frame N is at start + N/fps)."""

    spec: ArchiveSpec
    clip: tuple[int, int]  # first and last frame of the copy and smart-cut clips
    transcode: tuple[int, int]
    snapshot: int
    download_bytes: int
    runs: int
    slow_runs: int  # the transcode and the downloads


REALISTIC = Scenario(
    spec=ArchiveSpec(),
    clip=(3013, 10513),  # 120.52 s .. 420.52 s: 5 minutes, 13 frames into a GOP at both ends
    transcode=(5013, 6513),  # 200.52 s .. 260.52 s
    snapshot=7537,  # 301.48 s, 37 frames after its keyframe
    download_bytes=1 << 30,
    runs=5,
    slow_runs=3,
)
SMOKE = Scenario(
    spec=ArchiveSpec(width=320, height=180, seconds=12.0, video_kbps=300, audio_kbps=64),
    clip=(63, 213),
    transcode=(88, 138),
    snapshot=162,
    download_bytes=4 << 20,
    runs=1,
    slow_runs=1,
)


# --- the cases ------------------------------------------------------------------------------


def _seconds(frame: int, spec: ArchiveSpec) -> float:
    return frame / spec.fps


class Bench:
    """The cases of one scenario, bound to the archive, the servers and a work directory."""

    def __init__(
        self,
        scenario: Scenario,
        archive: Archive,
        servers: dict[str, BenchServer],
        workdir: Path,
    ) -> None:
        self.scenario = scenario
        self.archive = archive
        self.servers = servers
        self.workdir = workdir
        self.ffmpeg = ffmpeg_binary()
        self.placed: tuple[str, str, Path] | None = None

    # -- helpers ------------------------------------------------------------------------

    def _out(self, name: str) -> Path:
        path = self.workdir / "out" / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _vexport(self, server: str, options: Callable[[], pb.Options], name: str) -> Measure:
        def measure(attempt: int) -> Run:
            bench_server = self.servers[server]
            out = self._out(f"{name}-vexport")
            shutil.rmtree(out)
            cpu_server = cpu_of(bench_server.pid)
            cpu_client = self_cpu()
            exported = bench_server.export(options(), out)
            cpu = cpu_of(bench_server.pid) - cpu_server + self_cpu() - cpu_client
            bench_server.destroy(exported.session_id)  # keep the disk and the store small
            return Run(exported.seconds, exported.files, exported.processing, cpu=cpu)

        return measure

    def _ffmpeg(self, name: str, args: Callable[[Path], list[str]], suffix: str) -> Measure:
        def measure(attempt: int) -> Run:
            out = self._out(f"{name}-ffmpeg") / f"out{suffix}"
            command = [self.ffmpeg, "-hide_banner", "-nostdin", "-v", "error", "-y", *args(out)]
            return ffmpeg_run(command, [out])

        return measure

    def _clip_options(self, origin: str, first: int, last: int, fmt: int) -> pb.Options:
        options = pb.Options()
        options.archive.sources.add(origin=origin)
        options.archive.start_timestamp = format_timestamp(self.archive.frame_time(first))
        options.archive.end_timestamp = format_timestamp(self.archive.frame_time(last))
        options.stream.format = fmt  # type: ignore[assignment]
        return options

    def _concat_list(self) -> Path:
        spec = self.scenario.spec
        first, last = self.scenario.clip
        segments = self.archive.hls_segments_covering(
            _seconds(first, spec), _seconds(last + 1, spec)
        )
        listing = self.workdir / "concat.txt"
        listing.write_text("".join(f"file '{segment}'\n" for segment in segments))
        return listing

    # -- cases ----------------------------------------------------------------------------

    def cases(self) -> list[Case]:
        spec = self.scenario.spec
        first, last = self.scenario.clip
        a, b = _seconds(first, spec), _seconds(last, spec)
        minutes = (last - first) / spec.fps / 60
        length = f"{minutes:g} min" if minutes >= 1 else f"{minutes * 60:g} s"
        listing = self._concat_list()
        hls, dash = str(self.archive.hls), str(self.archive.dash)
        ss_to = ["-ss", f"{a:.3f}", "-to", f"{b:.3f}"]
        formats = {"mp4": (pb.StreamType.MP4, ".mp4"), "ts": (pb.StreamType.MPEG_TS, ".ts")}

        def clip(origin: str, fmt: int) -> Callable[[], pb.Options]:
            return lambda: self._clip_options(origin, first, last, fmt)

        def concat(out: Path) -> list[str]:
            return ["-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy", str(out)]

        cases = []
        for key, container, target in (
            ("mp4", "MP4", "≤ 1.0x concat"),
            ("ts", "MPEG-TS", "≤ 0.33x concat"),
        ):
            fmt, suffix = formats[key]
            cases.append(
                Case(
                    f"copy-{key}",
                    f"copy to {container}, {length} (HLS/TS)",
                    Variant("vexport", self._vexport("copy", clip(HLS_ORIGIN, fmt), f"copy-{key}")),
                    (
                        Variant(
                            "`ffmpeg -f concat -safe 0 -i list.txt -c copy`",
                            self._ffmpeg(f"concat-{key}", concat, suffix),
                        ),
                        Variant(
                            "`ffmpeg -ss -to -i index.m3u8 -c copy`",
                            self._ffmpeg(
                                f"ss-{key}",
                                lambda out: [*ss_to, "-i", hls, "-c", "copy", str(out)],
                                suffix,
                            ),
                        ),
                    ),
                    target,
                )
            )
        cases.append(
            Case(
                "copy-mp4-dash",
                f"copy to MP4, {length} (DASH/fMP4)",
                Variant(
                    "vexport", self._vexport("copy", clip(DASH_ORIGIN, pb.StreamType.MP4), "dash")
                ),
                (
                    Variant(
                        "`ffmpeg -ss -to -i manifest.mpd -c copy`",
                        self._ffmpeg(
                            "ss-dash",
                            lambda out: [*ss_to, "-i", dash, "-c", "copy", str(out)],
                            ".mp4",
                        ),
                    ),
                ),
                "—",
            )
        )
        for key, container in (("mp4", "MP4"), ("ts", "MPEG-TS")):
            fmt, _ = formats[key]
            cases.append(
                Case(
                    f"smart-{key}",
                    f"smart cut to {container}, {length} (HLS/TS)",
                    Variant(
                        "vexport smart cut",
                        self._vexport("smart", clip(HLS_ORIGIN, fmt), f"smart-{key}"),
                    ),
                    (
                        Variant(
                            "vexport copy",
                            self._vexport("copy", clip(HLS_ORIGIN, fmt), f"smart-base-{key}"),
                        ),
                    ),
                    "≤ 1.5x copy",
                )
            )
        cases.append(self._transcode_case())
        cases += self._snapshot_cases()
        cases += self._download_cases()
        return cases

    def _transcode_case(self) -> Case:
        spec = self.scenario.spec
        first, last = self.scenario.transcode
        a = _seconds(first, spec)
        seconds = (last - first) / spec.fps

        def options() -> pb.Options:
            options = self._clip_options(HLS_ORIGIN, first, last, pb.StreamType.MP4)
            options.stream.settings.add(video_codec=pb.StreamSetting.VC_H264)
            options.settings.add(timestamp_format=TIMESTAMP_FORMAT)
            return options

        # What a user types for the same picture: the shipped font at the size vexport
        # draws (32 px at 1080 lines), white on a half-transparent box, bottom left, the
        # wall clock from the frame's pts; x264 veryfast CRF 23 and AAC 128k are vexport's
        # mapping of an unspecified quality (docs/api.md, media/encoding.py).
        pixels = font_pixels(
            TextOverlay(timestamp_format=TIMESTAMP_FORMAT, font_size=DEFAULT_FONT_SIZE),
            spec.height,
        )
        pad = max(2, round(pixels * 0.25))
        epoch = self.archive.frame_time(first).timestamp()
        drawtext = (
            f"drawtext=fontfile={font_path()}:fontsize={pixels}:fontcolor=white:box=1:"
            f"boxcolor=black@0.5:boxborderw={pad}:x={pad}:y=h-th-{pad}:"
            f"text='%{{pts\\:gmtime\\:{epoch:.2f}\\:%Y-%m-%d %H\\\\\\:%M\\\\\\:%S}}'"
        )

        def ffmpeg_args(out: Path) -> list[str]:
            return [
                "-ss", f"{a:.3f}", "-t", f"{seconds:.3f}", "-i", str(self.archive.hls),
                "-vf", drawtext, "-c:v", "libx264", "-preset", "veryfast", "-crf", "23",
                "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k", str(out),
            ]  # fmt: skip

        return Case(
            "transcode",
            f"H.264 transcode + timestamp, {seconds:g} s",
            Variant("vexport", self._vexport("copy", options, "transcode")),
            (
                Variant(
                    "`ffmpeg -ss -t -i index.m3u8 -vf drawtext … -c:v libx264`",
                    self._ffmpeg("transcode", ffmpeg_args, ".mp4"),
                ),
            ),
            "≤ 1.05x",
            slow=True,
        )

    def _snapshot_cases(self) -> list[Case]:
        spec = self.scenario.spec
        frame = self.scenario.snapshot
        at = _seconds(frame, spec)
        into_gop = frame % spec.gop_frames

        def options(origin: str) -> Callable[[], pb.Options]:
            def build() -> pb.Options:
                options = pb.Options()
                options.archive.sources.add(origin=origin)
                options.archive.start_timestamp = format_timestamp(self.archive.frame_time(frame))
                options.snapshot.format = pb.SnapshotType.JPEG
                return options

            return build

        def snapshot(source: Path) -> Callable[[Path], list[str]]:
            return lambda out: ["-ss", f"{at:.3f}", "-i", str(source), "-frames:v", "1", str(out)]

        cases = []
        for key, origin, source, name in (
            ("snapshot", HLS_ORIGIN, self.archive.hls, "index.m3u8"),
            ("snapshot-dash", DASH_ORIGIN, self.archive.dash, "manifest.mpd"),
        ):
            kind = "HLS/TS" if key == "snapshot" else "DASH/fMP4"
            cases.append(
                Case(
                    key,
                    f"snapshot JPEG, frame {into_gop} of its GOP ({kind})",
                    Variant("vexport", self._vexport("copy", options(origin), key)),
                    (
                        Variant(
                            f"`ffmpeg -ss T -i {name} -frames:v 1 out.jpg`",
                            self._ffmpeg(key, snapshot(source), ".jpg"),
                        ),
                    ),
                    "< 150 ms, ≤ 1.0x" if key == "snapshot" else "—",
                )
            )
        return cases

    # -- downloads --------------------------------------------------------------------------

    def _placed(self) -> tuple[str, str, Path]:
        """The big result file, placed once into a completed session of the copy server."""
        if self.placed is None:
            server = self.servers["copy"]
            first, last = self.scenario.clip
            model = server.export(
                self._clip_options(HLS_ORIGIN, first, last, pb.StreamType.MP4),
                self._out("download-seed"),
            )
            self.placed = server.place_file(
                model.session_id, self.scenario.download_bytes, "bench-download.bin"
            )
        return self.placed

    def _download_path(self) -> Path:
        return self._placed()[2]

    def _download_cases(self) -> list[Case]:
        server = self.servers["copy"]
        size = self.scenario.download_bytes

        def timed(action: Callable[[], int], pid: int | None = None) -> Run:
            cpu = self_cpu() + (cpu_of(pid) if pid else 0.0)
            began = time.perf_counter()
            moved = action()
            seconds = time.perf_counter() - began
            cpu = self_cpu() + (cpu_of(pid) if pid else 0.0) - cpu
            if moved != size:
                raise RuntimeError(f"downloaded {moved} bytes of {size}")
            return Run(seconds, [self._download_path()], moved=moved, cpu=cpu)

        def grpc(chunk_kb: int) -> Measure:
            def measure(attempt: int) -> Run:
                session_id, path, _ = self._placed()
                return timed(lambda: server.grpc_download(session_id, path, chunk_kb), server.pid)

            return measure

        def url() -> str:
            session_id, path, _ = self._placed()
            return f"{server.http_url}/api/v1/sessions/{session_id}/files/{path}"

        def http_python(attempt: int) -> Run:
            def get() -> int:
                total = 0
                headers = {"Range": f"bytes=0-{size - 1}"}
                with httpx.stream("GET", url(), headers=headers, timeout=120) as response:
                    if response.status_code != 206:
                        raise RuntimeError(f"HTTP {response.status_code}")
                    for data in response.iter_raw(1 << 20):
                        total += len(data)
                return total

            url()
            return timed(get, server.pid)

        def http_curl(attempt: int) -> Run:
            address = url()

            def get() -> int:
                done = subprocess.run(
                    ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{size_download}",
                     "-H", f"Range: bytes=0-{size - 1}", address],
                    capture_output=True, text=True, check=True,
                )  # fmt: skip
                status, count = done.stdout.split()
                if status != "206":
                    raise RuntimeError(f"HTTP {status}")
                return int(count)

            return timed(get, server.pid)

        def local_read(attempt: int) -> Run:
            path = self._download_path()

            def read() -> int:
                total = 0
                with open(path, "rb", buffering=0) as handle:
                    while data := handle.read(1 << 20):
                        total += len(data)
                return total

            return timed(read)

        floor = Variant("read from the page cache (1 MiB blocks)", local_read)
        size_text = f"{size / (1 << 30):g} GiB" if size >= 1 << 30 else f"{size >> 20} MiB"
        rows = [
            ("download-grpc", "DownloadFile, default 1 MiB chunks (Python client)", grpc(0)),
            ("download-grpc-4m", "DownloadFile, 4032 KiB chunks (Python client)", grpc(4032)),
            ("download-http", "HTTP GET with Range (httpx client)", http_python),
        ]
        if shutil.which("curl"):
            rows.append(("download-curl", "HTTP GET with Range (curl)", http_curl))
        return [
            Case(
                key,
                f"{title}, {size_text}",
                Variant("vexport", measure),
                (floor,),
                "≥ 400 MB/s" if key == "download-grpc" else "—",
                throughput=True,
                slow=True,
            )
            for key, title, measure in rows
        ]


# --- running -------------------------------------------------------------------------------------


def _sources(archive: Archive) -> list[dict[str, Any]]:
    return [
        {"origin": HLS_ORIGIN, "archives": [{"storage": STORAGE, "url": archive.hls.as_uri()}]},
        {"origin": DASH_ORIGIN, "archives": [{"storage": STORAGE, "url": archive.dash.as_uri()}]},
    ]


def _warm(archive: Archive) -> None:
    """Read the archive once so that no side pays for the disk on its first run."""
    for path in archive.directory.rglob("*"):
        if path.is_file():
            with open(path, "rb") as handle:
                while handle.read(1 << 22):
                    pass


def run_bench(
    scenario: Scenario,
    workdir: Path,
    *,
    cache: Path | None = None,
    only: Sequence[str] = (),
    profile_dir: Path | None = None,
    log: bool = True,
) -> tuple[Report, str]:
    """Everything ``make bench`` does, into ``workdir``; the report and the profile text."""
    started = datetime.now(UTC)
    archive = ensure_archive(scenario.spec, root=cache, log=log)
    _warm(archive)
    sources = _sources(archive)
    servers: dict[str, BenchServer] = {}
    profile_text = ""
    try:
        servers["copy"] = BenchServer(workdir / "server-copy", sources, COPY_MEDIA).start()
        if SMART_CUT_MEDIA == COPY_MEDIA:
            servers["smart"] = servers["copy"]
        else:
            servers["smart"] = BenchServer(
                workdir / "server-smart", sources, SMART_CUT_MEDIA
            ).start()
        bench = Bench(scenario, archive, servers, workdir)
        cases = [c for c in bench.cases() if not only or any(c.key.startswith(o) for o in only)]
        load_before = load_average()
        if log:
            print(f"measuring {len(cases)} cases (load average {load_before}):", flush=True)
        results = run_cases(cases, scenario.runs, scenario.slow_runs, log=log)
        load_after = load_average()
        report = Report(
            scenario.spec, archive, results, machine(), load_before, load_after, started
        )
        if log:
            print("\n" + report.text() + "\n", flush=True)
        if profile_dir is not None:
            profile_text = profile(
                [r.case for r in results if not r.error],
                lambda case: servers["smart" if case.key.startswith("smart") else "copy"].pid,
                profile_dir,
            )
    finally:
        for server in {id(s): s for s in servers.values()}.values():
            server.stop()
    return report, profile_text


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="the seconds-long 320x180 version")
    parser.add_argument("--runs", type=int, help="runs per case (default 5, 3 for slow ones)")
    parser.add_argument("--only", nargs="*", default=(), help="case keys (prefixes) to run")
    parser.add_argument("--profile", type=Path, help="also profile vexport's runs into DIR")
    parser.add_argument("--update-doc", action="store_true", help="write docs/performance.md")
    parser.add_argument("--keep", type=Path, help="work in DIR and keep it (default: a temp dir)")
    args = parser.parse_args(argv)
    scenario = SMOKE if args.smoke else REALISTIC
    if args.runs:
        scenario = replace(scenario, runs=args.runs, slow_runs=args.runs)
    with contextlib.ExitStack() as stack:
        if args.keep:
            workdir = args.keep
            workdir.mkdir(parents=True, exist_ok=True)
        else:
            temporary = tempfile.TemporaryDirectory(prefix="vexport-bench-")
            workdir = Path(stack.enter_context(temporary))
        report, profile_text = run_bench(
            scenario, workdir, only=args.only, profile_dir=args.profile
        )
    text = report.text()
    if profile_text:
        print("\nWhere vexport's server threads spent the time (py-spy, one run each):")
        print(profile_text)
    if args.update_doc:
        update_doc(text, DOC)
        print(f"\nwrote the table into {DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
