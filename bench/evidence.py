"""What signing costs: a 5-minute copy export with and without the evidence step.

The same export as ``bench/run.py``'s "copy to MP4" and "copy to MPEG-TS" rows
(120.52 s to 420.52 s of the 1080p25 HLS/TS archive), run in process through
the media engine, the way a worker runs it, twice per round:

- without evidence: the packet provenance capture switched off, the files
  hashed (the wire result's SHA-256, made either way);
- with evidence: the provenance capture on, every archive object hashed as it
  is read (``ReadLog``), the manifest built and signed (Ed25519).

Rounds alternate the two so that a change in the machine's load hits both;
the medians and the overhead are printed. C2PA is not part of it (it rewrites
the file: see docs/design/evidence.md for its own number).

The archive is ``bench/archive.py``'s cached 10-minute archive when the cache
holds it. Otherwise (generating it takes ~40 minutes on two shared cores) a
stand-in is generated once and cached beside it: the same picture, size, rate,
bitrate, GOP and B-frames, encoded with x264's ``veryfast`` preset and only
7 minutes long. What the evidence step costs depends on the bytes and packets
it hashes and counts, which the stand-in has as many of; the report says which
archive was used.

    .venv/bin/python bench/evidence.py [--rounds 3] [--container mp4|ts]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import archive as bench_archive
from bench.archive import ArchiveSpec, cache_root, ffmpeg_version
from vexport.config import EvidenceConfig
from vexport.evidence.manifest import SessionFacts
from vexport.evidence.signer import load_signer
from vexport.fonts import font_path
from vexport.media import clip_writer
from vexport.media.control import SimpleJobControl
from vexport.media.decision import CutMode, decided
from vexport.media.ffmpeg import ffmpeg_binary
from vexport.media.plan import ContainerFormat, ExportKind, ExportPlan, SourcePlan
from vexport.media.provenance import ReadLog, RunRecorder
from vexport.media.runner import run_export
from vexport.results.base import describe
from vexport.storage import default_reader

FIRST_FRAME, LAST_FRAME = 3013, 10513  # bench/run.py's 5-minute clip
STAND_IN_SECONDS = 430.0


def archive_manifest() -> tuple[Path, ArchiveSpec, str]:
    """The HLS playlist to export from, its spec, and which archive it is."""
    spec = ArchiveSpec()
    ffmpeg = ffmpeg_binary()
    cached = cache_root() / f"archive-{spec.key(ffmpeg_version(ffmpeg))}"
    if (cached / "complete.json").is_file():
        return cached / "hls" / "index.m3u8", spec, f"the cached archive ({spec.label()})"
    stand_in = replace(spec, seconds=STAND_IN_SECONDS)
    folder = cache_root() / f"evidence-stand-in-{stand_in.key(ffmpeg_version(ffmpeg))}"
    if not (folder / "complete.json").is_file():
        print(f"generating a stand-in archive ({stand_in.label()}, x264 veryfast) ...")
        _generate(stand_in, folder, ffmpeg)
    label = f"a stand-in ({stand_in.label()}, x264 veryfast; the cached archive is not there)"
    return folder / "hls" / "index.m3u8", stand_in, label


def _generate(spec: ArchiveSpec, folder: Path, ffmpeg: str) -> None:
    building = folder.with_name(folder.name + ".partial")
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir(parents=True)
    source = building / "source.mkv"
    font = str(font_path(monospace=True)).replace(":", "\\:")
    size = spec.height // 12
    picture = (
        f"testsrc2=size={spec.width}x{spec.height}:rate={spec.fps},"
        f"noise=alls={spec.noise}:allf=t,"
        f"drawtext=fontfile={font}:text='%{{frame_num}}':fontsize={size}:fontcolor=white:"
        f"box=1:boxcolor=black@0.6:x=w-tw-{size // 2}:y={size // 2}"
    )
    kbps = spec.video_kbps
    bench_archive._run(
        ffmpeg,
        [
            "-f", "lavfi", "-i", picture,
            "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
            "-t", f"{spec.seconds:.3f}", "-map", "0:v", "-map", "1:a",
            "-c:v", "libx264", "-preset", "veryfast", "-bf", "3", "-b:v", f"{kbps}k",
            "-maxrate", f"{kbps * 5 // 4}k", "-bufsize", f"{kbps * 2}k",
            "-g", str(spec.gop_frames), "-keyint_min", str(spec.gop_frames),
            "-sc_threshold", "0", "-pix_fmt", "yuv420p",
            "-c:a", "aac", "-b:a", f"{spec.audio_kbps}k", "-ac", "2", str(source),
        ],
    )  # fmt: skip
    bench_archive._make_hls(spec, source, building / "hls", ffmpeg)
    source.unlink()
    (building / "complete.json").write_text(json.dumps(asdict(spec), indent=2) + "\n")
    shutil.rmtree(folder, ignore_errors=True)
    building.rename(folder)


def _plan(manifest: Path, spec: ArchiveSpec, container: ContainerFormat) -> ExportPlan:
    start = spec.start_time
    frame = timedelta(seconds=1 / spec.fps)
    source = SourcePlan(origin="bench/camera", name="camera", archive_url=manifest.as_uri())
    plan = ExportPlan(
        kind=ExportKind.ARCHIVE_CLIP,
        sources=(source,),
        container=container,
        start=start + FIRST_FRAME * frame,
        end=start + LAST_FRAME * frame,
    )
    return decided(plan, CutMode.KEYFRAME)  # a stream copy, as the table's copy rows


def _once(plan: ExportPlan, workdir: Path, *, signed: bool, data_dir: Path) -> tuple[float, float]:
    """Wall seconds and CPU seconds (every thread of the process) of one export."""
    shutil.rmtree(workdir, ignore_errors=True)
    reader = default_reader()
    began, cpu = time.perf_counter(), time.process_time()
    if signed:
        reads = ReadLog(reader)
        produced = run_export(plan, SimpleJobControl(), workdir=workdir, reader=reads)
        files = [describe(p) for p in produced]
        signer = load_signer(EvidenceConfig(), data_dir)
        facts = SessionFacts(
            session_id="bench",
            created_at=datetime.now(UTC),
            plan=plan,
            produced=produced,
            files=files,
            reads=reads.reads(),
            instance="bench",
            signed_at=datetime.now(UTC),
        )
        signer.sign(facts, workdir)
    else:
        add = RunRecorder.add
        RunRecorder.add = lambda self, tp: None  # type: ignore[method-assign]
        try:
            produced = run_export(plan, SimpleJobControl(), workdir=workdir, reader=reader)
        finally:
            RunRecorder.add = add  # type: ignore[method-assign]
        [describe(p) for p in produced]
    return time.perf_counter() - began, time.process_time() - cpu


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--container", choices=["mp4", "ts"], default="mp4")
    args = parser.parse_args(argv)
    manifest, spec, label = archive_manifest()
    container = ContainerFormat.MP4 if args.container == "mp4" else ContainerFormat.MPEG_TS
    plan = _plan(manifest, spec, container)
    assert clip_writer  # the writer whose capture the baseline switches off
    with tempfile.TemporaryDirectory(prefix="vexport-bench-evidence-") as tmp:
        root = Path(tmp)
        # A warm-up of each (page cache, imports, the generated key), not counted.
        _once(plan, root / "out", signed=False, data_dir=root)
        _once(plan, root / "out", signed=True, data_dir=root)
        plain: list[tuple[float, float]] = []
        signed: list[tuple[float, float]] = []
        for _ in range(args.rounds):
            plain.append(_once(plan, root / "out", signed=False, data_dir=root))
            signed.append(_once(plan, root / "out", signed=True, data_dir=root))
        manifest_size = (root / "out" / "export.manifest.json").stat().st_size
    print(f"archive: {label}")
    print(f"5-minute copy to {container.value.upper()}, {args.rounds} rounds:")
    for what, index in (("wall", 0), ("CPU", 1)):
        a = statistics.median(r[index] for r in plain)
        b = statistics.median(r[index] for r in signed)
        low_a, low_b = min(r[index] for r in plain), min(r[index] for r in signed)
        print(
            f"  {what:4} median {a:6.2f} s -> {b:6.2f} s ({100 * (b - a) / a:+5.1f} %);"
            f" quietest {low_a:6.2f} s -> {low_b:6.2f} s ({100 * (low_b - low_a) / low_a:+5.1f} %)"
        )
    print(f"  manifest {manifest_size} bytes")


if __name__ == "__main__":
    main()
